#!/usr/bin/env python3
"""CLV benchmark: BG/NBD + Gamma-Gamma fit and every customer's 12-month CLV for a
million customers, `cxm clv --summary` side by side with the Python `lifetimes` package
fitted on the same RFM summary in one run. Each runs as a child process; wall time and
peak RSS are measured, and the parameters and values compared.

The summary is simulated from BG/NBD and Gamma-Gamma with CDNOW-like parameters (times in
weeks, whole days, customers joining over 78 weeks), deterministic by seed.

Usage: bench/clv.py [--customers 1000000] [--cxm target/release/cxm] [--work bench-data]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TRUE = dict(r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=3.8, gamma=15.0)

LIFETIMES = r"""
import json, sys, time
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
started = time.perf_counter()
df = pd.read_csv(sys.argv[1])
read = time.perf_counter()
bgf = BetaGeoFitter(penalizer_coef=0.0)
bgf.fit(df["frequency"], df["recency"], df["T"])
repeat = df[df["frequency"] > 0]
ggf = GammaGammaFitter(penalizer_coef=0.0)
ggf.fit(repeat["frequency"], repeat["monetary_value"])
fitted = time.perf_counter()
clv = ggf.customer_lifetime_value(bgf, df["frequency"], df["recency"], df["T"], df["monetary_value"],
                                  time=12, discount_rate=0.01, freq="W")
valued = time.perf_counter()
pd.DataFrame({"customer_id": df["customer_id"], "value": clv.values}).to_csv(sys.argv[2], index=False)
print(json.dumps({"bgnbd": {k: float(v) for k, v in bgf.params_.items()},
                  "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
                  "seconds": {"read": read - started, "fit": fitted - read, "value": valued - fitted}}))
"""


def simulate(n: int, seed: int, path: Path) -> None:
    rng = np.random.default_rng(seed)
    t = TRUE
    age = rng.integers(7, 78 * 7, n) / 7.0  # weeks since the first purchase, whole days
    lam = rng.gamma(t["r"], 1.0 / t["alpha"], n)
    drop = rng.beta(t["a"], t["b"], n)
    x = np.zeros(n, dtype=np.int64)
    last = np.zeros(n)
    now = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        now[idx] += rng.exponential(1.0, idx.size) / np.maximum(lam[idx], 1e-12)
        within = now[idx] <= age[idx]
        bought = idx[within]
        x[bought] += 1
        last[bought] = np.floor(now[bought] * 7.0) / 7.0
        alive[idx[~within]] = False
        # after each purchase the customer drops out with probability p
        gone = bought[rng.random(bought.size) < drop[bought]]
        alive[gone] = False
    nu = rng.gamma(t["q"], 1.0 / t["gamma"], n)
    total = rng.gamma(np.maximum(t["p"] * x, 1e-9), 1.0 / nu)
    monetary = np.where(x > 0, total / np.maximum(x, 1), 0.0)
    recency = np.where(x > 0, np.minimum(last, age), 0.0)
    with open(path, "w") as out:
        out.write("customer_id,frequency,recency,T,monetary_value\n")
        for i in range(n):
            out.write(f"C{i},{x[i]},{recency[i]:.6f},{age[i]:.6f},{monetary[i]:.4f}\n")


def run(argv):
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv[0]} failed with status {status}")
    return wall, usage.ru_maxrss / 1024, stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--cxm", default=os.environ.get("CXM_BIN", "target/release/cxm"))
    parser.add_argument("--work", default="bench-data")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    summary = work / f"rfm-{args.customers}.csv"
    if not summary.exists():
        print(f"simulating {args.customers:,} customers into {summary}", flush=True)
        simulate(args.customers, args.seed, summary)
    script = work / "lifetimes_clv.py"
    script.write_text(LIFETIMES)
    ours_values, theirs_values = work / "clv-cxm.csv", work / "clv-lifetimes.csv"

    cxm_wall, cxm_rss, out = run([args.cxm, "clv", "--summary", str(summary), "--time-unit", "week",
                                  "--months", "12", "--discount", "0.01", "--customers", str(ours_values),
                                  "--format", "json"])
    ours = json.loads(out)
    lt_wall, lt_rss, out = run([sys.executable, str(script), str(summary), str(theirs_values)])
    theirs = json.loads(out)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(f"customers: {args.customers:,}; true r={TRUE['r']} alpha={TRUE['alpha']} a={TRUE['a']} b={TRUE['b']} "
          f"p={TRUE['p']} q={TRUE['q']} gamma={TRUE['gamma']}")
    print("| tool | wall s | fit s | CLV s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    print(f"| cxm clv --summary | {cxm_wall:.2f} | {ours['seconds']['fit']:.2f} | {ours['seconds']['value']:.2f} | {cxm_rss:.0f} |")
    print(f"| lifetimes 0.11.3 | {lt_wall:.2f} | {theirs['seconds']['fit']:.2f} | {theirs['seconds']['value']:.2f} | {lt_rss:.0f} |")
    print(f"speed-up (wall): {lt_wall / cxm_wall:.1f}x; fit + CLV: "
          f"{(theirs['seconds']['fit'] + theirs['seconds']['value']) / (ours['seconds']['fit'] + ours['seconds']['value']):.1f}x")
    pairs = [("r", "r", "bgnbd", "purchases"), ("alpha", "alpha", "bgnbd", "purchases"),
             ("a", "a", "bgnbd", "purchases"), ("b", "b", "bgnbd", "purchases"),
             ("p", "p", "gamma_gamma", "spend"), ("q", "q", "gamma_gamma", "spend"),
             ("gamma", "v", "gamma_gamma", "spend")]
    for ours_name, their_name, their_model, our_model in pairs:
        a = ours[our_model]["model"][ours_name]
        b = theirs[their_model][their_name]
        print(f"  {ours_name:>6}: cxm {a:.6f}  lifetimes {b:.6f}  difference {abs(a - b):.2e} ({abs(a - b) / abs(b):.2e} relative)")
    print(f"  log-likelihoods (cxm): BG/NBD {ours['purchases']['log_likelihood']:.3f}, Gamma-Gamma {ours['spend']['log_likelihood']:.3f}")
    import pandas as pd
    mine = pd.read_csv(ours_values)["value"].to_numpy()
    other = pd.read_csv(theirs_values)["value"].to_numpy()
    rel = np.abs(mine - other) / np.maximum(np.abs(other), 1e-9)
    print(f"  CLV: total cxm {mine.sum():,.0f} lifetimes {other.sum():,.0f}; median relative difference "
          f"{np.median(rel):.2e}, 99th percentile {np.quantile(rel, 0.99):.2e} "
          f"(lifetimes counts 4.345 weeks a month, cxm 365.25/12/7 = 4.348)")


if __name__ == "__main__":
    main()

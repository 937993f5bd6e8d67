#!/usr/bin/env python3
"""Driver-analysis benchmark: 1 million survey answers, 12 correlated candidate drivers,
relative weights + Shapley values + coefficients with 1,000 bootstrap resamples, by
`cxm drivers --observations`. Beside it in one run, NumPy computes Johnson's relative
weights on the same data (the point estimate, checked against cxm's) and times a
conventional row bootstrap for a few resamples, extrapolated to 1,000.

Usage: bench/drivers.py [--rows 1000000] [--cxm target/release/cxm] [--work bench-data]
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

EFFECTS = [0.45, 0.30, 0.25, 0.20, 0.15, 0.12, 0.10, 0.08, 0.05, 0.03, 0.01, 0.0]


def simulate(n: int, seed: int, path: Path) -> None:
    rng = np.random.default_rng(seed)
    p = len(EFFECTS)
    common = rng.standard_normal(n)
    x = 0.6 * common[:, None] + rng.standard_normal((n, p))
    y = x @ np.array(EFFECTS) + rng.standard_normal(n) * 1.5
    # ratings-like outcome: 1-5
    y = np.clip(np.round(3 + y / 1.2), 1, 5)
    header = "y," + ",".join(f"d{j}" for j in range(p))
    np.savetxt(path, np.column_stack([y, x]), delimiter=",", header=header, comments="", fmt="%.5g")


def relative_weights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    data = np.column_stack([y, x])
    corr = np.corrcoef(data, rowvar=False)
    rxx, rxy = corr[1:, 1:], corr[1:, 0]
    values, vectors = np.linalg.eigh(rxx)
    lam = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    beta = np.linalg.solve(lam, rxy)
    return (lam ** 2) @ (beta ** 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--cxm", default=os.environ.get("CXM_BIN", "target/release/cxm"))
    parser.add_argument("--work", default="bench-data")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"answers-{args.rows}.csv"
    if not data.exists():
        print(f"simulating {args.rows:,} answers into {data}", flush=True)
        simulate(args.rows, 11, data)

    started = time.perf_counter()
    process = subprocess.Popen([args.cxm, "drivers", "--observations", str(data), "--outcome", "y",
                                "--resamples", str(args.resamples), "--format", "json"], stdout=subprocess.PIPE)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("cxm drivers failed")
    report = json.loads(out)

    started = time.perf_counter()
    table = np.loadtxt(data, delimiter=",", skiprows=1)
    loaded = time.perf_counter() - started
    y, x = table[:, 0], table[:, 1:]
    started = time.perf_counter()
    weights = relative_weights(x, y)
    point = time.perf_counter() - started
    rng = np.random.default_rng(1)
    trial = 5
    started = time.perf_counter()
    for _ in range(trial):
        idx = rng.integers(0, len(y), len(y))
        relative_weights(x[idx], y[idx])
    per_resample = (time.perf_counter() - started) / trial

    ours = {d["name"]: d["relative_weight"]["value"] for d in report["drivers"]}
    difference = max(abs(ours[f"d{j}"] - weights[j]) for j in range(len(EFFECTS)))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(f"{args.rows:,} answers, {len(EFFECTS)} drivers, {args.resamples} resamples")
    print("| tool | wall s | peak RSS MiB |")
    print("|---|---:|---:|")
    print(f"| cxm drivers --observations (read CSV, relative weights, Shapley, coefficients, {args.resamples} resamples) "
          f"| {wall:.2f} | {usage.ru_maxrss / 1024:.0f} |")
    print(f"| NumPy: load CSV {loaded:.2f} s, relative weights once {point:.3f} s, row bootstrap "
          f"{per_resample:.3f} s per resample → {per_resample * args.resamples:.0f} s for {args.resamples} | | |")
    print(f"R² {report['r_squared']['value']:.4f} [{report['r_squared']['low']:.4f}, {report['r_squared']['high']:.4f}]; "
          f"largest difference from NumPy's relative weights {difference:.2e}")
    for d in report["drivers"][:4]:
        rw = d["relative_weight"]
        print(f"  {d['rank']}. {d['name']}: weight {rw['value']:.5f} [{rw['low']:.5f}, {rw['high']:.5f}], "
              f"Shapley {d['shapley']['value']:.5f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Alert rules benchmark: `cxm ingest interactions` of N contacts with the default alert
rules evaluated after the ingest, against the same ingest with `--no-alerts`, each into a
fresh data directory holding the topic taxonomy (2 of the 40 topics are complaints, so
about 8% of contacts carry one, as in the generated demo company).

Usage: bench/alerts.py [--rows 10000000] [--cxm target/release/cxm] [--work bench-data]
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(argv):
    started = time.perf_counter()
    process = subprocess.run(argv, stdout=subprocess.PIPE, check=True)
    wall = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, rss, process.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--cxm", default=os.environ.get("CXM_BIN", "target/release/cxm"))
    parser.add_argument("--work", default="bench-data")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    csv = work / f"interactions-{args.rows}.csv"
    if not csv.exists():
        subprocess.run([sys.executable, str(Path(__file__).with_name("gen_interactions.py")), str(args.rows), str(csv)], check=True)
    topics = work / "topics.csv"
    with open(topics, "w") as f:
        f.write("code,name,category,kind\n")
        for category in ("billing", "tech", "account", "sales"):
            for t in "abcdefghij":
                kind = "complaint" if t == "a" and category in ("billing", "tech") else "request"
                f.write(f"{category}.{t},{category} {t},{category},{kind}\n")
    subprocess.run(["cat", str(csv)], stdout=subprocess.DEVNULL, check=True)
    rows = []
    for label, flags in (("rules disabled (--no-alerts)", ["--no-alerts"]), ("default rules evaluated", [])):
        data_dir = work / "alerts-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        subprocess.run([args.cxm, "--data-dir", str(data_dir), "init"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([args.cxm, "--data-dir", str(data_dir), "ingest", "topics", str(topics)], check=True, stdout=subprocess.DEVNULL)
        wall, _, out = run([args.cxm, "--data-dir", str(data_dir), "ingest", "interactions", str(csv), "--no-refresh", *flags])
        opened = [line for line in out.decode().splitlines() if line.startswith("alerts:")]
        rows.append((label, wall, opened[0] if opened else "-"))
    base = rows[0][1]
    print(f"input: {args.rows:,} contacts")
    print("| ingest | wall s | rows/s | cost of the rules | cases |")
    print("|---|---:|---:|---:|---|")
    for label, wall, opened in rows:
        print(f"| {label} | {wall:.2f} | {args.rows / wall:,.0f} | {100 * (wall - base) / base:+.1f}% | {opened} |")


if __name__ == "__main__":
    main()

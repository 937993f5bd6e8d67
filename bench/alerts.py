#!/usr/bin/env python3
"""Alert rules benchmark: `cxm ingest interactions` of N contacts with the default alert
rules evaluated after the ingest, against the same ingest with `--no-alerts`, each into a
fresh data directory holding the topic taxonomy (2 of the 40 topics are complaints, so
about 8% of contacts carry one, as in the generated demo company).

The history is the year that ended a week before today, and the rules look at records at
most `max_age_days` (14 for the default rules) old: a year's backfill opens cases only for
its last week. A third run evaluates the same rules with no age limit (every contact of the
year may open a case), the worst case.

Then, on top of the history with rules evaluated, a day's contacts at that rate (rows ÷ 365)
at a time, for the six days before today: days with and without the rules alternate, and
the medians compare. After an ingest the rules look only at records from the batch's
earliest one on.

Usage: bench/alerts.py [--rows 10000000] [--cxm target/release/cxm] [--work bench-data] [--time-ordered]
"""
import argparse
import json
import statistics
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
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
    parser.add_argument("--time-ordered", action="store_true", help="the history file in time order, as exports come")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    today = date.today()
    start = (today - timedelta(days=373)).isoformat()
    order = ["--time-ordered"] if args.time_ordered else []
    csv = work / f"interactions-{args.rows}-from-{start}{'-ordered' if order else ''}.csv"
    if not csv.exists():
        subprocess.run([sys.executable, str(Path(__file__).with_name("gen_interactions.py")), str(args.rows), str(csv), "--start", start, "--days", "366", *order], check=True)
    topics = work / "topics.csv"
    with open(topics, "w") as f:
        f.write("code,name,category,kind\n")
        for category in ("billing", "tech", "account", "sales"):
            for t in "abcdefghij":
                kind = "complaint" if t == "a" and category in ("billing", "tech") else "request"
                f.write(f"{category}.{t},{category} {t},{category},{kind}\n")
    subprocess.run(["cat", str(csv)], stdout=subprocess.DEVNULL, check=True)
    rows = []
    runs = (
        ("rules disabled (--no-alerts)", ["--no-alerts"], False),
        ("default rules, no age limit", [], True),
        ("default rules evaluated", [], False),
    )
    for label, flags, unlimited in runs:
        data_dir = work / "alerts-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        subprocess.run([args.cxm, "--data-dir", str(data_dir), "init"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([args.cxm, "--data-dir", str(data_dir), "ingest", "topics", str(topics)], check=True, stdout=subprocess.DEVNULL)
        if unlimited:
            listed = subprocess.run([args.cxm, "--data-dir", str(data_dir), "rules", "list", "--format", "json"], check=True, stdout=subprocess.PIPE)
            for rule in json.loads(listed.stdout):
                for stamp in ("updated_at", "updated_by"):
                    rule.pop(stamp, None)
                rule["max_age_days"] = None
                path = work / f"rule-{rule['rule_id']}.json"
                path.write_text(json.dumps(rule))
                subprocess.run([args.cxm, "--data-dir", str(data_dir), "rules", "set", str(path)], check=True, stdout=subprocess.DEVNULL)
        wall, _, out = run([args.cxm, "--data-dir", str(data_dir), "ingest", "interactions", str(csv), "--no-refresh", *flags])
        opened = [line for line in out.decode().splitlines() if line.startswith("alerts:")]
        rows.append((label, wall, opened[0] if opened else "-"))
    base = rows[0][1]
    print(f"input: {args.rows:,} contacts")
    print("| ingest | wall s | rows/s | cost of the rules | cases |")
    print("|---|---:|---:|---:|---|")
    for label, wall, opened in rows:
        print(f"| {label} | {wall:.2f} | {args.rows / wall:,.0f} | {100 * (wall - base) / base:+.1f}% | {opened} |")

    # A day's batch at a time onto the history (data_dir holds it, with its cases).
    per_day = args.rows // 365
    days = {"rules disabled (--no-alerts)": [], "default rules evaluated": []}
    opened_days = []
    for day in range(6):
        when = (today - timedelta(days=6 - day)).isoformat()
        day_csv = work / f"day-{per_day}-{when}.csv"
        if not day_csv.exists():
            subprocess.run([sys.executable, str(Path(__file__).with_name("gen_interactions.py")), str(per_day), str(day_csv), str(100 + day), "--start", when, "--days", "1", "--id-prefix", f"{when}-"], check=True)
        subprocess.run(["cat", str(day_csv)], stdout=subprocess.DEVNULL, check=True)
        label = "default rules evaluated" if day % 2 else "rules disabled (--no-alerts)"
        flags = [] if day % 2 else ["--no-alerts"]
        wall, _, out = run([args.cxm, "--data-dir", str(data_dir), "ingest", "interactions", str(day_csv), "--no-refresh", *flags])
        days[label].append(wall)
        opened_days += [line for line in out.decode().splitlines() if line.startswith("alerts:")]
    base = statistics.median(days["rules disabled (--no-alerts)"])
    print(f"\none day's batch ({per_day:,} contacts) onto the history, three days each, median:")
    print("| ingest | wall s (each) | median s | cost of the rules | cases |")
    print("|---|---|---:|---:|---|")
    for label, walls in days.items():
        median = statistics.median(walls)
        cases = "; ".join(opened_days) if label.startswith("default") else "-"
        print(f"| {label} | {', '.join(f'{w:.2f}' for w in walls)} | {median:.2f} | {100 * (median - base) / base:+.1f}% | {cases} |")


if __name__ == "__main__":
    main()

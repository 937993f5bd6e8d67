#!/usr/bin/env python3
"""Rounds of the rules' cost at ingest: for each round and each cxm binary in turn, a fresh
data directory holding the bench's taxonomy ingests CSV with `--no-alerts`, another with the
default rules (`cxm ingest interactions CSV --no-refresh`, each under /usr/bin/time). Prints
each pair and, per binary, the median cost of the rules over the rounds.

Make the file and the taxonomy as bench/alerts.py does (it leaves topics.csv in its work
folder); pairs alternate so that a machine's drift falls on every binary alike.

Usage: bench/rules_rounds.py CSV TOPICS ROUNDS CXM_BINARY...
"""
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB and the output of a command that must succeed."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        done = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", timing.name, *command],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        wall, rss = timing.read().split()[-2:]
    return float(wall), int(rss) / 1024, done.stdout


def ingest(cxm: str, csv: str, topics: str, flags: list[str]) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory(dir=Path(csv).parent) as data_dir:
        base = [cxm, "--data-dir", data_dir]
        subprocess.run(base + ["init"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(base + ["ingest", "topics", topics], check=True, stdout=subprocess.DEVNULL)
        wall, rss, out = timed(base + ["ingest", "interactions", csv, "--no-refresh", *flags])
    opened = next((line for line in out.splitlines() if line.startswith("alerts:")), "-")
    return wall, rss, opened


def main() -> None:
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    csv, topics, rounds, binaries = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    subprocess.run(["cat", csv], stdout=subprocess.DEVNULL, check=True)
    costs: dict[str, list[float]] = {cxm: [] for cxm in binaries}
    print("| round | build | rules disabled s | default rules s | cost of the rules | peak MiB | cases |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for round_ in range(1, rounds + 1):
        for cxm in binaries:
            off, _, _ = ingest(cxm, csv, topics, ["--no-alerts"])
            on, rss, opened = ingest(cxm, csv, topics, [])
            cost = 100 * (on - off) / off
            costs[cxm].append(cost)
            print(f"| {round_} | {Path(cxm).name} | {off:.2f} | {on:.2f} | {cost:+.1f}% | {rss:,.0f} | {opened} |",
                  flush=True)
    for cxm, values in costs.items():
        print(f"{Path(cxm).name}: median {statistics.median(values):+.1f}% "
              f"({min(values):+.1f}% to {max(values):+.1f}%) over {len(values)} rounds")


if __name__ == "__main__":
    main()

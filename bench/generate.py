#!/usr/bin/env python3
"""Generator benchmark: `cxm generate` at several sizes, reporting contacts per second and
the peak RSS of each run (which must not grow with the number of contacts).

Usage: bench/generate.py [--contacts 1000000,10000000] [--cxm target/release/cxm] [--work bench-data]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(argv):
    """Run a command; return (wall seconds, peak RSS in MiB, stdout)."""
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
    parser.add_argument("--contacts", default="1000000,10000000")
    parser.add_argument("--cxm", default=os.environ.get("CXM_BIN", "target/release/cxm"))
    parser.add_argument("--work", default="bench-data")
    args = parser.parse_args()

    print("| contacts | wall s | contacts/s | peak RSS MiB | output MB |")
    print("|---:|---:|---:|---:|---:|")
    for n in [int(x) for x in args.contacts.split(",")]:
        out = Path(args.work) / f"generated-{n}"
        shutil.rmtree(out, ignore_errors=True)
        wall, rss, stdout = run([args.cxm, "generate", "--out", str(out), "--contacts", str(n), "--json"])
        summary = json.loads(stdout)
        assert summary["interactions"] == n, summary
        size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
        print(f"| {n:,} | {wall:.2f} | {n / wall:,.0f} | {rss:.0f} | {size:,.0f} |", flush=True)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

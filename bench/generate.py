#!/usr/bin/env python3
"""Generator benchmark: `cxm generate` at several sizes, reporting contacts per second and
the peak RSS of each run (which must not grow with the number of contacts).

Usage: bench/generate.py [--contacts 1000000,10000000] [--cxm target/release/cxm] [--work bench-data]
"""
import argparse
import json
import os
import shutil
from pathlib import Path

from ingest import run  # the same child-process timing as the ingest benchmark


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

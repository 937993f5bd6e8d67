#!/usr/bin/env python3
"""Ingest benchmark: `cxm ingest interactions` versus DuckDB loading the same CSV into
Parquet, side by side in one run. Reports wall time, rows/s and peak RSS of each.

cxm runs twice into fresh data directories: storing only (`--no-refresh`), and as a user
runs it, storing and then bringing the metric rollup up to date (the cost of keeping the
rollups current).

Usage: bench/ingest.py [--rows 10000000] [--cxm target/release/cxm] [--work bench-data]
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(argv, env=None):
    """Run a command; return (wall seconds, peak RSS in MiB, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv[0]} failed with status {status}")
    return wall, usage.ru_maxrss / 1024, stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--cxm", default=os.environ.get("CXM_BIN", "target/release/cxm"))
    parser.add_argument("--work", default="bench-data")
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(exist_ok=True)
    csv = work / f"interactions-{args.rows}.csv"
    if not csv.exists():
        print(f"generating {csv} …", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).with_name("gen_interactions.py")), str(args.rows), str(csv)], check=True)
    size_mb = csv.stat().st_size / 1e6

    def fresh_data_dir():
        data_dir = work / "cxm-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        subprocess.run([args.cxm, "--data-dir", str(data_dir), "init"], check=True, stdout=subprocess.DEVNULL)
        return data_dir

    # Warm the page cache for both contenders alike.
    subprocess.run(["cat", str(csv)], stdout=subprocess.DEVNULL, check=True)

    cxm_runs = []
    for label, flags in [
        ("cxm ingest --no-refresh (full validation, Delta commit)", ["--no-refresh"]),
        ("cxm ingest (the same, then the metric rollup refreshed)", []),
    ]:
        data_dir = fresh_data_dir()
        wall, rss, out = run([args.cxm, "--data-dir", str(data_dir), "ingest", "interactions", str(csv), "--json", *flags])
        summary = json.loads(out)
        assert summary["accepted"] == args.rows and summary["rejected"] == 0, summary
        cxm_runs.append((label, wall, rss))

    parquet = work / "duckdb.parquet"
    parquet.unlink(missing_ok=True)
    duck = (
        "import duckdb; duckdb.connect().execute("
        f"\"COPY (SELECT * FROM read_csv('{csv}')) TO '{parquet}' (FORMAT parquet)\")"
    )
    duck_wall, duck_rss, _ = run([sys.executable, "-c", duck])

    import duckdb  # noqa: E402  (only for the version and the row check)

    duck_rows = duckdb.connect().execute(f"SELECT count(*) FROM '{parquet}'").fetchone()[0]
    assert duck_rows == args.rows, duck_rows

    cxm_bytes = sum(f.stat().st_size for f in (data_dir / "tables" / "interactions").glob("*.parquet"))
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"input: {args.rows:,} rows, {size_mb:,.0f} MB CSV; duckdb {duckdb.__version__}")
    print()
    print("| loader | wall s | rows/s | peak RSS MiB | output MB |")
    print("|---|---:|---:|---:|---:|")
    for label, wall, rss in cxm_runs:
        print(f"| {label} | {wall:.2f} | {args.rows / wall:,.0f} | {rss:,.0f} | {cxm_bytes / 1e6:,.0f} |")
    print(f"| DuckDB COPY read_csv → Parquet | {duck_wall:.2f} | {args.rows / duck_wall:,.0f} | {duck_rss:,.0f} | {parquet.stat().st_size / 1e6:,.0f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Rounds of cxm builds side by side with DuckDB on one CSV of interactions.
#
# Usage: bench/ingest_rounds.sh CSV ROUNDS CXM_BINARY...
#
# Each round ingests CSV with every binary in turn (`cxm ingest interactions --no-refresh
# --no-alerts` into a fresh data directory), then has DuckDB copy it into Parquet
# (`COPY (SELECT * FROM read_csv(…)) TO … (FORMAT parquet)`, duckdb from PyPI), each under
# /usr/bin/time: wall seconds, user and system CPU seconds, peak RSS.
set -euo pipefail
csv=$1
rounds=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A run that fails is reported as failed (with its output), never as a timing.
timed() {
  if /usr/bin/time -f "%e s wall, %U s user, %S s system, %M KiB peak RSS" -o "$work/time" "$@" >"$work/out" 2>&1; then
    cat "$work/time"
  else
    echo "FAILED: $(tail -n 3 "$work/out")"
  fi
}
for round in $(seq "$rounds"); do
  for cxm in "$@"; do
    dir="$work/data"
    "$cxm" init --data-dir "$dir" >/dev/null
    echo "round $round $(basename "$cxm"): $(timed "$cxm" ingest interactions "$csv" --data-dir "$dir" --no-refresh --no-alerts --json)"
    rm -rf "$dir"
  done
  echo "round $round duckdb: $(timed python3 -c "import duckdb, sys; duckdb.sql(f\"COPY (SELECT * FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet)\")" "$csv" "$work/out.parquet")"
  rm -f "$work/out.parquet"
done

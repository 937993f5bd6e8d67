#!/usr/bin/env bash
# A day's batch onto a stored history, rules disabled and enabled in turn, each onto a fresh
# copy of the history (e.g. the data directory bench/alerts.py leaves, with the DAY_CSV of
# a day not in it yet: `gen_interactions.py 27397 DAY.csv SEED --start DAY --days 1 --id-prefix X-`).
# Usage: bench/day_batch.sh HISTORY_DIR DAY_CSV [CXM] [PAIRS]
set -euo pipefail
history=$1 day=$2 cxm=${3:-target/release/cxm} pairs=${4:-3}
trial=$(mktemp -d)
trap 'rm -rf "$trial"' EXIT
for _ in $(seq "$pairs"); do
  for mode in off on; do
    rm -rf "$trial/data" && cp -r "$history" "$trial/data" && sync && sleep 1
    extra=(); [ "$mode" = off ] && extra=(--no-alerts)
    start=$(date +%s.%N)
    "$cxm" ingest interactions "$day" --data-dir "$trial/data" --no-refresh "${extra[@]}" > "$trial/out.txt"
    end=$(date +%s.%N)
    echo "rules $mode: $(echo "$end - $start" | bc) s $(grep -o 'alerts: [0-9]* cases opened' "$trial/out.txt" || true)"
  done
done

#!/usr/bin/env bash
# Instructions (valgrind's callgrind) of ingesting one CSV of interactions, per cxm build:
# the same count on every run of the same binary and input, so changes of a few per cent
# show where wall-clock rounds on a shared machine cannot.
#
# Usage: bench/ingest_instructions.sh CSV OUT_DIR CXM_BINARY...
# (a few hundred thousand rows: callgrind runs about fifty times slower). Writes
# OUT_DIR/callgrind.<binary name>.out for `callgrind_annotate --inclusive=yes`.
set -euo pipefail
csv=$1
out=$2
shift 2
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for cxm in "$@"; do
  dir="$work/data"
  "$cxm" init --data-dir "$dir" >/dev/null
  if ! valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$(basename "$cxm").out" \
    "$cxm" ingest interactions "$csv" --data-dir "$dir" --no-refresh --no-alerts --json \
    >/dev/null 2>"$work/valgrind"; then
    echo "$(basename "$cxm"): FAILED: $(grep -v '^==' "$work/valgrind" | tail -n 3)"
    exit 1
  fi
  echo "$(basename "$cxm"): $(grep -o 'Collected : [0-9]*' "$work/valgrind" | cut -d' ' -f3) instructions"
  rm -rf "$dir"
done

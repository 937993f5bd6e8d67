#!/usr/bin/env bash
# Fuzz the HTTP API against its own OpenAPI document with schemathesis (PyPI): every
# operation, generated valid and invalid requests; fails on a 5xx, a response outside its
# schema, or a valid request refused. Usage: scripts/api-fuzz.sh PATH/TO/cxm [EXAMPLES]
set -euo pipefail
cxm=${1:?usage: api-fuzz.sh PATH/TO/cxm [EXAMPLES]}
examples=${2:-${CXM_API_FUZZ_EXAMPLES:-40}}
command -v schemathesis >/dev/null || python3 -m pip install --quiet schemathesis
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
"$cxm" --data-dir "$work/data" demo --contacts 20000 --no-serve >/dev/null
token=$("$cxm" --data-dir "$work/data" tokens create --name schemathesis --scope read 2>/dev/null)
ingest_token=$("$cxm" --data-dir "$work/data" tokens create --name schemathesis-ingest --scope ingest 2>/dev/null)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CXM_LOG=warn "$cxm" --data-dir "$work/data" serve --listen "127.0.0.1:$port" &
server=$!
for _ in $(seq 60); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
schemathesis run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --max-examples "$examples" --seed 1 --no-color
# The ingest operations again with a token that may send records (into this throwaway
# data directory), so valid batches are stored and answered per record.
schemathesis run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --header "Authorization: Bearer $ingest_token" --include-path-regex '/ingest/' \
  --max-examples "$examples" --seed 1 --no-color
echo "api fuzzing: clean"

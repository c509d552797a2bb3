#!/usr/bin/env bash
# Runs the client examples' tests against a fresh dev stack.
#
#   bash examples/clients/run.sh [path/to/edustream]      (default: target/debug/edustream)
#
# Builds nothing: build first with `cargo build -p edustream` (and `-p router` for the
# persisted-documents test, which needs the standalone `edustream-router` next to `edustream`).
# Starts `edustream dev` on a temporary data directory, waits for the router's /health, installs
# the npm packages if node_modules is missing, runs `node --test`, and always stops what it
# started. Extra arguments after the binary go to `node --test` (e.g. --test-name-pattern=urql).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-target/debug/edustream}"
shift || true
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
[ -x "$bin" ] || { echo "run.sh: no edustream binary at $bin (cargo build -p edustream)" >&2; exit 2; }
router_bin="$(dirname "$bin")/edustream-router"

health="http://127.0.0.1:4000/health"
persisted_port=4001
if curl -fsS -o /dev/null --max-time 2 "$health" 2>/dev/null; then
  echo "run.sh: something already answers on $health; stop it first (the tests need a stack of their own)" >&2
  exit 2
fi

data_dir="$(mktemp -d)"
log="$data_dir/dev-stack.log"
pids=()
stop() {
  local status=$?
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] && [ -f "$log" ]; then
    echo "--- last lines of the dev stack's log ($log) ---" >&2
    tail -n 40 "$log" >&2 || true
  fi
  rm -rf "$data_dir"
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "run.sh: starting $bin dev --data-dir $data_dir"
RUST_LOG="${RUST_LOG:-warn}" "$bin" dev --data-dir "$data_dir" >"$log" 2>&1 &
pids+=($!)

wait_for() { # url seconds pid
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || { echo "run.sh: the process behind $1 exited" >&2; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || { echo "run.sh: $1 did not answer within $2 s" >&2; return 1; }
    sleep 0.25
  done
}
wait_for "$health" 60 "${pids[0]}"
echo "run.sh: the dev stack answers on $health"

# The standalone router, in front of the same subgraphs, with Relay's persisted documents
# loaded as trusted documents and the safelist on (the dev stack's own router loads no manifest).
if [ -x "$router_bin" ]; then
  ROUTER_SUPERGRAPH="$root/supergraph.graphql" \
    ROUTER_LISTEN="127.0.0.1:$persisted_port" \
    ROUTER_PERSISTED_DOCUMENTS="$here/persisted-documents.json" \
    ROUTER_SAFELIST=true \
    ROUTER_JWKS_URL="http://127.0.0.1:8001/.well-known/jwks.json" \
    ROUTER_JWT_ISSUER="edustream-identity" \
    ROUTER_JWT_AUDIENCE="edustream" \
    RUST_LOG="${RUST_LOG:-warn}" \
    "$router_bin" >>"$log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$persisted_port/health" 30 "${pids[1]}"
  export PERSISTED_ROUTER_URL="http://127.0.0.1:$persisted_port/graphql"
  echo "run.sh: edustream-router with persisted-documents.json (safelist) on $PERSISTED_ROUTER_URL"
else
  echo "run.sh: no $router_bin: the persisted-documents test will be skipped (cargo build -p router)"
fi

cd "$here"
if [ ! -d node_modules ]; then
  npm ci --omit=dev --no-audit --no-fund
fi
export ROUTER_URL="http://127.0.0.1:4000/graphql"
node --test --test-reporter=spec "$@"

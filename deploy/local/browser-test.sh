#!/usr/bin/env bash
# Runs the browser tests (services/web/app/tests, Node's test runner driving Debian's
# Chromium through playwright-core) against a private copy of the whole suite: the three
# services, the web service and fresh databases on free ports, beside whatever else runs on
# this machine. Uses the broker in SPONTAN_TEST_KAFKA_BROKERS (test.sh starts one) or starts
# its own. Arguments are test files (default: all). Installs Chromium with apt-get if missing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

if [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" = 0 ] || die "Chromium missing: run 'sudo apt-get install chromium' once"
  log "installing Debian's Chromium (browser tests; browsers cannot be downloaded otherwise)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The mock push service of the Web Push test (tests/volunteer-push.test.mjs); the
# registration service of this private suite accepts its plain-HTTP endpoints (never
# elsewhere).
install_web_push_testing
export SPONTAN_ALERTS__WEB_PUSH__ALLOW_HTTP_ENDPOINTS=true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Three consecutive free ports for the gRPC services, three for their metrics and one for web.
consecutive_free() {
  local base
  for _ in $(seq 1 50); do
    base=$(free_port)
    if ! port_in_use $((base + 1)) && ! port_in_use $((base + 2)) && ! port_in_use $((base + 3)); then
      echo "$base"; return
    fi
  done
  die "no free port range"
}

run_dir=$(mktemp -d)
export SPONTAN_STATE_DIR="$run_dir/state"
export SPONTAN_DB_PREFIX="spontan_bt_$$"
export SPONTAN_GRPC_PORT_BASE=$(consecutive_free)
export SPONTAN_METRICS_PORT_BASE=$(consecutive_free)
export SPONTAN_WEB_PORT=$(free_port)
export SPONTAN_DEMO=0
STATE="$SPONTAN_STATE_DIR"

broker_pid=""
if [ -n "${SPONTAN_TEST_KAFKA_BROKERS:-}" ]; then
  export SPONTAN_BROKER_PORT="${SPONTAN_TEST_KAFKA_BROKERS##*:}"
else
  "$ROOT/deploy/local/install-broker.sh"
  export SPONTAN_BROKER_PORT=$(free_port)
  broker_pid=$(start_broker "$SPONTAN_BROKER_PORT" "$run_dir/broker")
fi

cleanup() {
  status=$?
  "$ROOT/deploy/local/down.sh" --purge >/dev/null 2>&1 || true
  [ -z "$broker_pid" ] || { kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; }
  if [ "$status" != 0 ] && [ -d "$STATE/logs" ]; then
    for f in "$STATE"/logs/*.log; do echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; done
  fi
  rm -rf "$run_dir"
}
trap cleanup EXIT

log "starting a private suite for the browser tests (web on 127.0.0.1:$SPONTAN_WEB_PORT)"
"$ROOT/deploy/local/up.sh" >"$run_dir/up.log" 2>&1 || { cat "$run_dir/up.log" >&2; exit 1; }

ensure_postgres
base="${PG_ADMIN_URL%/*}"
export SPONTAN_WEB_URL="http://127.0.0.1:$SPONTAN_WEB_PORT"
export SPONTAN_REGISTRATION_DB_URL="$base/${SPONTAN_DB_PREFIX}_registration"
export SPONTAN_TASK_DB_URL="$base/${SPONTAN_DB_PREFIX}_task"
export SPONTAN_MATCHING_DB_URL="$base/${SPONTAN_DB_PREFIX}_matching"
export CHROME_PATH=/usr/bin/chromium

cd "$ROOT/services/web/app"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/)
node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"

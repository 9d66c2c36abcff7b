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

# `n` consecutive free ports on loopback, the first printed. They are taken below the
# kernel's ephemeral range (ip_local_port_range, 32768 and up by default): a port in that
# range can meanwhile become the local end of any outgoing connection on this machine (the
# tests' own database and broker connections), and a service could then not bind it.
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    ephemeral_low = int(f.read().split()[0])
hi = min(32000, ephemeral_low)
lo = max(1025, hi - 12000)
for _ in range(500):
    base = random.randrange(lo, hi - n)
    taken = []
    try:
        for port in range(base, base + n):
            s = socket.socket()
            taken.append(s)
            s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        for s in taken:
            s.close()
    print(base)
    break
else:
    sys.exit("no free port range below the ephemeral ports")
PY
}

run_dir=$(mktemp -d)
export SPONTAN_STATE_DIR="$run_dir/state"
export SPONTAN_DB_PREFIX="spontan_bt_$$"
# gRPC of the three services, metrics of the four, the web clients, the identity provider,
# the messaging gateway: ten ports in a row.
ports=$(free_ports 10)
export SPONTAN_GRPC_PORT_BASE=$ports
export SPONTAN_METRICS_PORT_BASE=$((ports + 3))
export SPONTAN_WEB_PORT=$((ports + 7))
export SPONTAN_DEMO=0
# The tests read the texts the app asks for (contact codes) from this stack's own gateway.
export SPONTAN_GATEWAY_PORT=$((ports + 9))
STATE="$SPONTAN_STATE_DIR"

# A test OpenID Connect provider (tests/support/oidc-issuer.mjs) that the staff pages sign in
# at and whose tokens the services accept, over plain HTTP on loopback (never elsewhere).
oidc_port=$((ports + 8))
export SPONTAN_OIDC_ISSUER="http://127.0.0.1:$oidc_port/realms/spontan"
export SPONTAN_AUTH__OIDC="[{issuer=\"$SPONTAN_OIDC_ISSUER\", allow_http=true, roles=[\"coordinator\",\"dashboard\",\"admin\"]}]"
export SPONTAN_WEB__OIDC__ISSUER="$SPONTAN_OIDC_ISSUER"
export SPONTAN_WEB__OIDC__CLIENT_ID=spontan-console

broker_pid=""
if [ -n "${SPONTAN_TEST_KAFKA_BROKERS:-}" ]; then
  export SPONTAN_BROKER_PORT="${SPONTAN_TEST_KAFKA_BROKERS##*:}"
else
  "$ROOT/deploy/local/install-broker.sh"
  export SPONTAN_BROKER_PORT=$(free_ports 1)
  broker_pid=$(start_broker "$SPONTAN_BROKER_PORT" "$run_dir/broker")
fi

oidc_pid=""
cleanup() {
  status=$?
  [ -z "$oidc_pid" ] || kill "$oidc_pid" 2>/dev/null || true
  # The logs first: down.sh --purge deletes them.
  if [ "$status" != 0 ] && [ -d "$STATE/logs" ]; then
    for f in "$STATE"/logs/*.log; do echo "--- $f (last lines)" >&2; tail -n 30 "$f" >&2; done
  fi
  "$ROOT/deploy/local/down.sh" --purge >/dev/null 2>&1 || true
  [ -z "$broker_pid" ] || { kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; }
  rm -rf "$run_dir"
}
trap cleanup EXIT

node "$ROOT/services/web/app/tests/support/oidc-issuer.mjs" "$oidc_port" "http://127.0.0.1:$SPONTAN_WEB_PORT" \
  >"$run_dir/oidc-issuer.log" 2>&1 &
oidc_pid=$!
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

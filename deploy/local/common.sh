# Shared settings of the local scripts; sourced, not run.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${SPONTAN_STATE_DIR:-$ROOT/.spontan}"
# One build directory for the working tree, CI and the broker install: builds on two cores
# are slow, so nothing is built twice.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spontan/target}"
TANSU_VERSION="0.6.0"
PG_ADMIN_URL="${SPONTAN_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The broker binary, installed by install-broker.sh.
tansu_bin() {
  if [ -n "${SPONTAN_TANSU:-}" ]; then echo "$SPONTAN_TANSU"; return; fi
  if command -v tansu >/dev/null 2>&1; then command -v tansu; return; fi
  echo "$HOME/.cargo/bin/tansu"
}

# Waits until something listens on 127.0.0.1:$1, for at most $2 seconds.
wait_for_port() {
  local port=$1 limit=${2:-20} i
  for ((i = 0; i < limit * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts tansu on 127.0.0.1:$1 with SQLite storage in $2, logging to $2/tansu.log; prints its pid.
start_broker() {
  local port=$1 dir=$2
  mkdir -p "$dir"
  (cd "$dir" && exec "$(tansu_bin)" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "sqlite://tansu.db" >>tansu.log 2>&1) &
  local pid=$!
  wait_for_port "$port" 30 || { cat "$dir/tansu.log" >&2; die "broker did not start on port $port"; }
  index_broker_headers "$dir/tansu.db"
  echo "$pid"
}

# tansu's SQLite schema has no index on record headers, so each record a fetch returns looks
# its headers up by scanning every header stored (our events carry about nine): with some
# 30,000 events the broker spends a core on fetches and publishing stalls. Adds the index
# (idempotent; the broker keeps working meanwhile). Real Kafka has no such table.
index_broker_headers() {
  python3 - "$1" <<'PY' >&2
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
for _ in range(100):
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'header'").fetchone():
        db.execute("CREATE INDEX IF NOT EXISTS spontan_header_record ON header (topition, offset_id)")
        db.commit()
        break
    time.sleep(0.1)
else:
    print("broker: no header table to index; fetches will slow down as events accumulate")
PY
}

# The system libraries the build links: OpenSSL (librdkafka's TLS and SASL/SCRAM to the
# brokers) found through pkg-config. Installed from the distribution when missing (as root),
# else the build stops with the command to run.
ensure_build_deps() {
  if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; then return 0; fi
  [ "$(id -u)" = 0 ] || die "OpenSSL headers missing: run 'sudo apt-get install libssl-dev pkg-config' once"
  log "installing libssl-dev and pkg-config (once)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >/dev/null
}

# Makes sure a PostgreSQL server answers at $PG_ADMIN_URL, or starts a private cluster.
ensure_postgres() {
  if psql "$PG_ADMIN_URL" -qAtc 'SELECT 1' >/dev/null 2>&1; then return 0; fi
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] || die "no PostgreSQL at $PG_ADMIN_URL and no server binaries to start one (apt-get install postgresql)"
  local bin data="$STATE/pgdata" port=55432
  bin=$(dirname "$initdb")
  log "no PostgreSQL at $PG_ADMIN_URL: starting a private cluster on port $port"
  local run=()
  # PostgreSQL refuses to run as root.
  if [ "$(id -u)" = 0 ]; then run=(runuser -u postgres --); mkdir -p "$STATE"; chown postgres "$STATE"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    "${run[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  fi
  "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
  PG_ADMIN_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export SPONTAN_PG_ADMIN_URL="$PG_ADMIN_URL"
  psql "$PG_ADMIN_URL" -qAtc 'SELECT 1' >/dev/null || die "private PostgreSQL did not start"
}

# The local mock push service of the Web Push tests (npm package web-push-testing), installed
# once into the cache at a pinned version; exports SPONTAN_WEB_PUSH_TESTING, the path of its
# cli.js, which the tests start on loopback. Without npm the Web Push tests say they skip.
install_web_push_testing() {
  local version="1.2.2" dir
  dir="$HOME/.cache/spontan/web-push-testing-$version"
  if ! command -v npm >/dev/null 2>&1; then
    log "npm not found: the Web Push tests are skipped (they need the npm package web-push-testing)"
    return 0
  fi
  [ -f "$dir/node_modules/web-push-testing/src/bin/cli.js" ] ||
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "web-push-testing@$version" >&2
  export SPONTAN_WEB_PUSH_TESTING="$dir/node_modules/web-push-testing/src/bin/cli.js"
}

#!/usr/bin/env bash
# Runs every test against real components: the workspace's tests with PostgreSQL (a fresh
# database per test) and one broker started for this run on a free port, stopped at the end;
# then the browser tests (browser-test.sh: the whole suite and its web clients in Debian's
# Chromium). Arguments are passed to `cargo test` (for example a test name filter), and then
# only the workspace's tests run; SPONTAN_BROWSER_TESTS=0 skips the browser tests too.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$ROOT/deploy/local/install-broker.sh"
ensure_postgres
export SPONTAN_TEST_DATABASE_URL="$PG_ADMIN_URL"

# The mock push service of the Web Push tests (services/registration/tests/web_push.rs).
install_web_push_testing

# Databases left by earlier runs (tests do not drop theirs, so a failure can be inspected).
# Only those nobody is connected to: another run on this machine may be using its own.
stale=$(psql "$PG_ADMIN_URL" -qAtc "SELECT datname FROM pg_database d WHERE datname LIKE 'spontan_test_%'
  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)")
for db in $stale; do
  psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
done

broker_dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
broker_pid=$(start_broker "$port" "$broker_dir")
cleanup() { kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; rm -rf "$broker_dir"; }
trap cleanup EXIT
export SPONTAN_TEST_KAFKA_BROKERS="127.0.0.1:$port"
export SPONTAN_TANSU="$(tansu_bin)"
log "broker for this run on $SPONTAN_TEST_KAFKA_BROKERS"

log_file="$broker_dir/cargo-test.log"
status=0
# The whole workspace unless the arguments choose packages (`-p spontan-registration`).
scope=(--workspace)
for arg in "$@"; do
  case "$arg" in -p | -p* | --package | --package=*) scope=() ;; esac
done
ensure_build_deps
cargo test --manifest-path "$ROOT/Cargo.toml" "${scope[@]}" "$@" 2>&1 | tee "$log_file" || status=$?

browser_log="$broker_dir/browser-test.log"
if [ $# -eq 0 ] && [ "${SPONTAN_BROWSER_TESTS:-1}" != 0 ]; then
  "$ROOT/deploy/local/browser-test.sh" 2>&1 | tee "$browser_log" || status=$?
fi
# One closing line for everything (cargo prints one per test binary, node's runner its own).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^[^ ]+ pass [0-9]+$/ { p += $3 } /^[^ ]+ fail [0-9]+$/ { f += $3 }
     END { printf "summary: %d passed, %d failed\n", p, f }' "$log_file" $( [ -f "$browser_log" ] && echo "$browser_log" )
exit "$status"

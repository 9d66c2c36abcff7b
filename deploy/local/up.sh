#!/usr/bin/env bash
# Brings the whole suite up on this machine: the broker, one database per service, the three
# services (which migrate their databases at start) on fixed ports. Stop it with down.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"

BROKER_PORT="${SPONTAN_BROKER_PORT:-9092}"
mkdir -p "$STATE/run" "$STATE/logs"

"$ROOT/deploy/local/install-broker.sh"

if port_in_use "$BROKER_PORT"; then
  log "broker port $BROKER_PORT already in use: assuming our broker is running"
else
  log "starting the broker on 127.0.0.1:$BROKER_PORT (data in $STATE/broker)"
  start_broker "$BROKER_PORT" "$STATE/broker" >"$STATE/run/broker.pid"
fi

ensure_postgres
base="${PG_ADMIN_URL%/*}"
for service in registration task matching; do
  db="spontan_$service"
  if [ "$(psql "$PG_ADMIN_URL" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    log "creating database $db"
    psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null
  fi
done

log "building the services"
cargo build --manifest-path "$ROOT/Cargo.toml" --bins --quiet

# A dev signing key for the local stack, made once and kept: tokens stay valid across restarts.
key_file="$STATE/dev-signing-key"
[ -s "$key_file" ] || head -c 32 /dev/urandom | base64 >"$key_file"
chmod 600 "$key_file"

declare -A GRPC_PORT=([registration]=50051 [task]=50052 [matching]=50053)
declare -A METRICS_PORT=([registration]=9101 [task]=9102 [matching]=9103)
for service in registration task matching; do
  pid_file="$STATE/run/$service.pid"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    log "$service already running (pid $(cat "$pid_file"))"
    continue
  fi
  SPONTAN_DATABASE__URL="$base/spontan_$service" \
  SPONTAN_KAFKA__BROKERS="127.0.0.1:$BROKER_PORT" \
  SPONTAN_KAFKA__FETCH_WAIT_MAX_MS=10 \
  SPONTAN_AUTH__SIGNING_KEY="$(cat "$key_file")" \
  SPONTAN_GRPC__LISTEN="127.0.0.1:${GRPC_PORT[$service]}" \
  SPONTAN_METRICS__LISTEN="127.0.0.1:${METRICS_PORT[$service]}" \
    nohup "$CARGO_TARGET_DIR/debug/spontan-$service" >>"$STATE/logs/$service.log" 2>&1 &
  echo $! >"$pid_file"
done

for service in registration task matching; do
  if ! "$CARGO_TARGET_DIR/debug/spontan-probe" "127.0.0.1:${GRPC_PORT[$service]}" --wait 60; then
    tail -n 20 "$STATE/logs/$service.log" >&2
    die "$service did not become ready (log: $STATE/logs/$service.log)"
  fi
done

cat <<MSG

Spontan is up.
  registration  grpc 127.0.0.1:50051   metrics http://127.0.0.1:9101/metrics
  task          grpc 127.0.0.1:50052   metrics http://127.0.0.1:9102/metrics
  matching      grpc 127.0.0.1:50053   metrics http://127.0.0.1:9103/metrics
  broker        127.0.0.1:$BROKER_PORT (Kafka protocol)
  logs          $STATE/logs/
  dev key       $key_file (signs local tokens)
Check health:   $CARGO_TARGET_DIR/debug/spontan-probe 127.0.0.1:50051
Stop:           deploy/local/down.sh
MSG

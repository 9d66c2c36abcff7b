#!/usr/bin/env bash
# Stops what up.sh started. Data (broker, databases) stays; pass --purge to delete it too.
set -euo pipefail
source "$(dirname "$0")/common.sh"

for name in web registration task matching gateway broker; do
  pid_file="$STATE/run/$name.pid"
  [ -f "$pid_file" ] || continue
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid"
    # The services drain for up to 15 s, then their background tasks for up to 15 s more.
    for _ in $(seq 1 350); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
done

if [ "${1:-}" = "--purge" ]; then
  log "deleting local data"
  rm -rf "$STATE/broker" "$STATE/logs" "$STATE/demo-incident"
  for service in registration task matching; do
    psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS ${SPONTAN_DB_PREFIX:-spontan}_$service WITH (FORCE)" >/dev/null || true
  done
fi

#!/usr/bin/env bash
# The registration surge benchmark (docs/benchmarks.md): brings the suite up with release
# binaries, then for each rate runs the load generator open loop and reports latency and the
# CPU time each process spent per registration, measured until every event was published
# and applied by matching.
#
#   docs/bench/surge.sh                 # 500, 1000 and 2000 registrations/s, 20 s each
#   DURATION=30 docs/bench/surge.sh 1500
#
# It uses the fixed ports of deploy/local/up.sh, so it stops a running local suite first.
set -euo pipefail
source "$(dirname "$0")/../../deploy/local/common.sh"

"$ROOT/deploy/local/down.sh" >/dev/null
# One load generator is one client: the per-client Register limit (60,000/min locally) would
# refuse everything above 1,000/s.
SPONTAN_REGISTER_LIMIT__PER_MINUTE=6000000 SPONTAN_REGISTER_LIMIT__BURST=100000 \
  SPONTAN_PROFILE=release SPONTAN_DEMO=0 "$ROOT/deploy/local/up.sh" >/dev/null
cargo build --manifest-path "$ROOT/Cargo.toml" --release --quiet -p spontan-loadgen
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "volunteers already registered: $(psql "${PG_ADMIN_URL%/*}/spontan_registration" -qAtc 'SELECT count(*) FROM volunteers')"
STATE="$STATE" LOAD="$CARGO_TARGET_DIR/release/spontan-load" PG_ADMIN_URL="$PG_ADMIN_URL" \
  python3 "$ROOT/docs/bench/surge.py" "$@"

#!/usr/bin/env bash
# Compile-checked SQL. Every crate with `sqlx::query!` macros keeps the offline data of its
# queries in its own `.sqlx/` folder (committed), so that builds need no database.
#
#   deploy/local/sqlx.sh prepare [crate…]   rewrite .sqlx/ after changing a query
#   deploy/local/sqlx.sh check [crate…]     fail when a .sqlx/ is out of date (CI runs this)
#
# Crates are named by folder (`platform`, `registration`, `task`, `matching`); default: all.
#
# Each service owns its own database, and two of them have tables of the same name
# (`volunteers`, `tasks`, `incidents`) with different columns, so one DATABASE_URL cannot serve
# the whole workspace (`cargo sqlx prepare --workspace`). Instead each crate is prepared
# against a fresh database with exactly its migrations: the platform's for the platform, the
# platform's and its own for a service. A service's .sqlx/ also holds the platform's queries:
# the platform is compiled again with it. Installs sqlx-cli once (cached in ~/.cargo/bin).
set -euo pipefail
source "$(dirname "$0")/common.sh"

SQLX_CLI_VERSION=0.8.6
mode="${1:-}"
shift || true
only=("$@")
case "$mode" in
  prepare) check=() ;;
  check) check=(--check) ;;
  *) die "usage: $0 prepare|check" ;;
esac

if ! cargo sqlx --version 2>/dev/null | grep -q "$SQLX_CLI_VERSION"; then
  log "installing sqlx-cli $SQLX_CLI_VERSION (once; a few minutes)"
  CARGO_TARGET_DIR="$HOME/.cache/spontan/sqlx-target" \
    cargo install sqlx-cli --version "$SQLX_CLI_VERSION" --locked \
    --no-default-features --features rustls,postgres
fi
ensure_postgres
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spontan/target}"
base="${PG_ADMIN_URL%/*}"

# crate folder and the migration folders its database gets, in order
crates=(
  "services/platform:services/platform/migrations"
  "services/registration:services/platform/migrations services/registration/migrations"
  "services/task:services/platform/migrations services/task/migrations"
  "services/matching:services/platform/migrations services/matching/migrations"
)

for entry in "${crates[@]}"; do
  crate="${entry%%:*}"
  name=$(basename "$crate")
  if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $name "* ]]; then continue; fi
  db="spontan_sqlx_${name}_$$"
  psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  # Migration files apply in version order (platform 0001.., services 0100..).
  for file in $(for dir in ${entry#*:}; do ls "$ROOT/$dir"/*.sql; done | sort -t/ -k1 | awk -F/ '{print $NF" "$0}' | sort | cut -d' ' -f2); do
    psql "$base/$db" -v ON_ERROR_STOP=1 -qf "$file" >/dev/null
  done
  log "sqlx $mode: $crate"
  # The platform's queries belong in every service's .sqlx/ too, but cargo re-expands them
  # only when it recompiles the platform: make sure it does.
  touch "$ROOT/services/platform/src/lib.rs"
  status=0
  (cd "$ROOT/$crate" && DATABASE_URL="$base/$db" cargo sqlx prepare "${check[@]}" -- --all-targets --all-features) || status=$?
  psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
  [ "$status" = 0 ] || die "sqlx $mode failed for $crate (deploy/local/sqlx.sh prepare rewrites .sqlx/)"
done

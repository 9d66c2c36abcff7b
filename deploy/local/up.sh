#!/usr/bin/env bash
# Brings the whole suite up on this machine: the broker, one database per service, the three
# services (which migrate their databases at start), the web clients and the web service that
# serves them, then demo data. Stop it with down.sh.
#
# Ports and names default to the fixed local ones; the browser tests override them to run a
# private suite beside a developer's: SPONTAN_GRPC_PORT_BASE (50051: registration, +1 task,
# +2 matching), SPONTAN_METRICS_PORT_BASE (9101, +3 for web), SPONTAN_WEB_PORT (8080),
# SPONTAN_DB_PREFIX (spontan), SPONTAN_STATE_DIR (.spontan), SPONTAN_BROKER_PORT (9092),
# SPONTAN_GATEWAY_PORT (8025, the messaging gateway's stand-in).
set -euo pipefail
source "$(dirname "$0")/common.sh"

BROKER_PORT="${SPONTAN_BROKER_PORT:-9092}"
GRPC_BASE="${SPONTAN_GRPC_PORT_BASE:-50051}"
METRICS_BASE="${SPONTAN_METRICS_PORT_BASE:-9101}"
WEB_PORT="${SPONTAN_WEB_PORT:-8080}"
GATEWAY_PORT="${SPONTAN_GATEWAY_PORT:-8025}"
DB_PREFIX="${SPONTAN_DB_PREFIX:-spontan}"
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
  db="${DB_PREFIX}_$service"
  if [ "$(psql "$PG_ADMIN_URL" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    log "creating database $db"
    psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null
  fi
done

# SPONTAN_PROFILE=release runs optimised binaries (for benchmarks); the default debug build
# shares its artefacts with the tests.
PROFILE="${SPONTAN_PROFILE:-debug}"
case "$PROFILE" in
  debug) build_flags=() ;;
  release) build_flags=(--release) ;;
  *) die "SPONTAN_PROFILE must be debug or release" ;;
esac
log "building the services ($PROFILE)"
ensure_build_deps
cargo build --manifest-path "$ROOT/Cargo.toml" --bins --quiet "${build_flags[@]}"
BIN="$CARGO_TARGET_DIR/$PROFILE"
"$ROOT/deploy/local/web-build.sh"

# A dev signing key for the local stack, made once and kept: tokens stay valid across restarts.
key_file="$STATE/dev-signing-key"
[ -s "$key_file" ] || head -c 32 /dev/urandom | base64 >"$key_file"
chmod 600 "$key_file"
# Matching signs contact grants with it; registration verifies them with its public half,
# which it derives from the same setting here (production gives it only the public key).
grant_key_file="$STATE/contact-grant-key"
[ -s "$grant_key_file" ] || head -c 32 /dev/urandom | base64 >"$grant_key_file"
chmod 600 "$grant_key_file"

# Every local client shares 127.0.0.1, so the per-client Register limit (30/min in
# production defaults) is raised here: the demo seed and load tests come from one address.
# Privacy keys of the registration service (envelope encryption and keyed lookups), made once.
for name in privacy-master-key privacy-lookup-key; do
  [ -s "$STATE/$name" ] || head -c 32 /dev/urandom | base64 >"$STATE/$name"
  chmod 600 "$STATE/$name"
done
CONSENT_VERSION="${SPONTAN_PRIVACY__CONSENT_TEXT_VERSION:-2025-06-de}"

# A VAPID key pair for Web Push alerts, made once: subscriptions of the app stay valid.
if [ ! -s "$STATE/vapid-private-key" ] || [ ! -s "$STATE/vapid-public-key" ]; then
  pair=$("$BIN/spontan" vapid generate)
  sed -n 's/^private=//p' <<<"$pair" >"$STATE/vapid-private-key"
  sed -n 's/^public=//p' <<<"$pair" >"$STATE/vapid-public-key"
fi
chmod 600 "$STATE/vapid-private-key"

# The messaging gateway's stand-in (`spontan dev gateway`): the registration service's SMS,
# Signal, Telegram, WhatsApp and app push messages end here instead of reaching anyone. Each is
# printed to its log and listed at $GATEWAY_URL/ (and as JSON at /messages). Started before
# registration, whose alerts.webhook_url points here.
GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
pid_file="$STATE/run/gateway.pid"
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  log "gateway already running (pid $(cat "$pid_file"))"
elif port_in_use "$GATEWAY_PORT"; then
  log "gateway port $GATEWAY_PORT already in use: assuming our gateway is running"
else
  log "starting the messaging gateway stand-in on $GATEWAY_URL"
  nohup "$BIN/spontan" dev gateway --listen "127.0.0.1:$GATEWAY_PORT" >>"$STATE/logs/gateway.log" 2>&1 &
  echo $! >"$pid_file"
  wait_for_port "$GATEWAY_PORT" 10 || { tail -n 20 "$STATE/logs/gateway.log" >&2; die "the gateway did not start on port $GATEWAY_PORT (log: $STATE/logs/gateway.log)"; }
fi

# tansu holds every fetch for the full fetch.wait.max.ms and plans its SQL anew for each: at
# 10 ms the four consumers' idle fetches alone keep most of a core busy; 50 ms costs a fifth
# of that and adds at most 50 ms to an event's way to a consumer.
FETCH_WAIT_MS="${SPONTAN_FETCH_WAIT_MS:-50}"

declare -A GRPC_PORT=([registration]=$GRPC_BASE [task]=$((GRPC_BASE + 1)) [matching]=$((GRPC_BASE + 2)))
declare -A METRICS_PORT=([registration]=$METRICS_BASE [task]=$((METRICS_BASE + 1)) [matching]=$((METRICS_BASE + 2)))
WEB_URL="http://127.0.0.1:$WEB_PORT"
# The web clients are served from another port than the APIs here, so the services allow
# their origin (gRPC-Web with CORS). Behind one ingress host nothing needs allowing.
CORS_ORIGINS="[\"$WEB_URL\",\"http://localhost:$WEB_PORT\"]"
# The local key is a development key: it signs staff tokens too (the CLI, /dev/sign-in). In
# production the suite's key signs volunteer tokens only and staff sign in at an OpenID
# Connect provider (docs/security.md). SPONTAN_AUTH__OIDC adds one here as well.
KEY_ROLES='["volunteer","coordinator","dashboard","admin"]'
# The demo's volunteers are registered in bulk and never confirm a phone, so the local stack
# matches volunteers without a confirmed contact (production requires one, docs/security.md).
# SPONTAN_PRIVACY__REQUIRE_CONFIRMED_CONTACT=true tries the production behaviour: codes
# arrive at the dev gateway.
REQUIRE_CONFIRMED="${SPONTAN_PRIVACY__REQUIRE_CONFIRMED_CONTACT:-false}"
for service in registration task matching; do
  pid_file="$STATE/run/$service.pid"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    log "$service already running (pid $(cat "$pid_file"))"
    continue
  fi
  SPONTAN_DATABASE__URL="$base/${DB_PREFIX}_$service" \
  SPONTAN_KAFKA__BROKERS="127.0.0.1:$BROKER_PORT" \
  SPONTAN_KAFKA__FETCH_WAIT_MAX_MS="$FETCH_WAIT_MS" \
  SPONTAN_AUTH__SIGNING_KEY="$(cat "$key_file")" \
  SPONTAN_AUTH__KEY_ROLES="$KEY_ROLES" \
  SPONTAN_AUTH__CONTACT_GRANT_KEY="$(cat "$grant_key_file")" \
  SPONTAN_GRPC__LISTEN="127.0.0.1:${GRPC_PORT[$service]}" \
  SPONTAN_GRPC__CORS_ALLOWED_ORIGINS="$CORS_ORIGINS" \
  SPONTAN_METRICS__LISTEN="127.0.0.1:${METRICS_PORT[$service]}" \
  SPONTAN_PRIVACY__MASTER_KEY="$(cat "$STATE/privacy-master-key")" \
  SPONTAN_PRIVACY__MASTER_KEY_ID="local-1" \
  SPONTAN_PRIVACY__LOOKUP_KEY="$(cat "$STATE/privacy-lookup-key")" \
  SPONTAN_PRIVACY__CONSENT_TEXT_VERSION="$CONSENT_VERSION" \
  SPONTAN_PRIVACY__REQUIRE_CONFIRMED_CONTACT="$REQUIRE_CONFIRMED" \
  SPONTAN_ALERTS__WEBHOOK_URL="$GATEWAY_URL/messages" \
  SPONTAN_ALERTS__WEB_PUSH__VAPID_PRIVATE_KEY="$(cat "$STATE/vapid-private-key")" \
  SPONTAN_ALERTS__WEB_PUSH__SUBJECT="mailto:ops@spontan.invalid" \
  SPONTAN_ALERTS__WEB_PUSH__ALLOW_HTTP_ENDPOINTS="${SPONTAN_ALERTS__WEB_PUSH__ALLOW_HTTP_ENDPOINTS:-false}" \
  SPONTAN_REGISTER_LIMIT__PER_MINUTE="${SPONTAN_REGISTER_LIMIT__PER_MINUTE:-60000}" \
  SPONTAN_REGISTER_LIMIT__BURST="${SPONTAN_REGISTER_LIMIT__BURST:-1000}" \
  SPONTAN_REGISTER_LIMIT__GLOBAL_BURST="${SPONTAN_REGISTER_LIMIT__GLOBAL_BURST:-20000}" \
  SPONTAN_REGISTER_LIMIT__GLOBAL_PER_MINUTE="${SPONTAN_REGISTER_LIMIT__GLOBAL_PER_MINUTE:-600000}" \
    nohup "$BIN/spontan-$service" >>"$STATE/logs/$service.log" 2>&1 &
  echo $! >"$pid_file"
done

# The web service: the built clients, /config.json with the services' addresses, and the
# development sign-in (/dev/sign-in), which exists only because a dev key is given here.
pid_file="$STATE/run/web.pid"
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  log "web already running (pid $(cat "$pid_file"))"
else
  SPONTAN_WEB__LISTEN="127.0.0.1:$WEB_PORT" \
  SPONTAN_METRICS__LISTEN="127.0.0.1:$((METRICS_BASE + 3))" \
  SPONTAN_WEB__ASSETS_DIR="$ROOT/services/web/app/dist" \
  SPONTAN_WEB__REGISTRATION_URL="http://127.0.0.1:${GRPC_PORT[registration]}" \
  SPONTAN_WEB__TASK_URL="http://127.0.0.1:${GRPC_PORT[task]}" \
  SPONTAN_WEB__MATCHING_URL="http://127.0.0.1:${GRPC_PORT[matching]}" \
  SPONTAN_WEB__CONSENT_TEXT_VERSION="$CONSENT_VERSION" \
  SPONTAN_WEB__DEV_SIGNING_KEY="$(cat "$key_file")" \
  SPONTAN_WEB__VAPID_PUBLIC_KEY="$(cat "$STATE/vapid-public-key")" \
    nohup "$BIN/spontan-web" >>"$STATE/logs/web.log" 2>&1 &
  echo $! >"$pid_file"
fi

for service in registration task matching; do
  if ! "$BIN/spontan-probe" "127.0.0.1:${GRPC_PORT[$service]}" --wait 60; then
    tail -n 20 "$STATE/logs/$service.log" >&2
    die "$service did not become ready (log: $STATE/logs/$service.log)"
  fi
done

for _ in $(seq 1 100); do
  curl -fsS "$WEB_URL/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$WEB_URL/readyz" >/dev/null || { tail -n 20 "$STATE/logs/web.log" >&2; die "web did not become ready (log: $STATE/logs/web.log)"; }

# Demo data: a flood in Bad Neuenahr-Ahrweiler, seeded once (set SPONTAN_DEMO=0 to skip).
spontan="$BIN/spontan"
demo_org="thw-ov-ahrweiler"
if [ "${SPONTAN_DEMO:-1}" != 0 ] && [ ! -s "$STATE/demo-incident" ]; then
  log "seeding the demo incident (Hochwasser Ahr)"
  token=$(SPONTAN_DEV_SIGNING_KEY="$(cat "$key_file")" "$spontan" token mint --role coordinator --organisation "$demo_org" --subject demo-coordinator)
  if SPONTAN_TOKEN="$token" SPONTAN_PRIVACY__CONSENT_TEXT_VERSION="$CONSENT_VERSION" \
      SPONTAN_REGISTRATION_ADDR="http://127.0.0.1:${GRPC_PORT[registration]}" \
      SPONTAN_TASK_ADDR="http://127.0.0.1:${GRPC_PORT[task]}" \
      SPONTAN_MATCHING_ADDR="http://127.0.0.1:${GRPC_PORT[matching]}" \
      "$spontan" demo seed --organisation "$demo_org" >"$STATE/logs/demo-seed.log" 2>&1; then
    sed -n 's/^incident \([^ ]*\) .*/\1/p' "$STATE/logs/demo-seed.log" >"$STATE/demo-incident"
    tail -n 1 "$STATE/logs/demo-seed.log"
  else
    log "demo data could not be seeded (see $STATE/logs/demo-seed.log); the suite runs without it"
    tail -n 3 "$STATE/logs/demo-seed.log" >&2
  fi
fi

cat <<MSG

Spontan is up.
  volunteer app  $WEB_URL/   (open it on a phone-sized window)
  console        $WEB_URL/dev/sign-in?role=coordinator&organisation=$demo_org
  dashboard      $WEB_URL/dev/sign-in?role=dashboard&organisation=$demo_org
                 (development sign-in links: they exist only because this stack has a dev key)
  messages       $GATEWAY_URL/   (texts by SMS, Signal, Telegram, WhatsApp: shown, never sent)
  registration  grpc 127.0.0.1:${GRPC_PORT[registration]}   metrics http://127.0.0.1:${METRICS_PORT[registration]}/metrics
  task          grpc 127.0.0.1:${GRPC_PORT[task]}   metrics http://127.0.0.1:${METRICS_PORT[task]}/metrics
  matching      grpc 127.0.0.1:${GRPC_PORT[matching]}   metrics http://127.0.0.1:${METRICS_PORT[matching]}/metrics
  web           http $WEB_URL   metrics http://127.0.0.1:$((METRICS_BASE + 3))/metrics
  broker        127.0.0.1:$BROKER_PORT (Kafka protocol)
  logs          $STATE/logs/
  dev key       $key_file (signs local tokens)
Check health:   $BIN/spontan-probe 127.0.0.1:${GRPC_PORT[registration]}
Stop:           deploy/local/down.sh
MSG
if [ -s "$STATE/demo-incident" ]; then
  cat <<MSG
Watch the demo: export SPONTAN_TOKEN=\$(SPONTAN_DEV_SIGNING_KEY=\$(cat $key_file) $spontan token mint --role dashboard --organisation $demo_org)
                $spontan matches watch --incident $(cat "$STATE/demo-incident")
MSG
fi

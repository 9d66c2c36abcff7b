#!/usr/bin/env bash
# Builds the web clients (services/web/app) into services/web/app/dist: installs the npm
# packages from the committed lockfile when it changed (`npm ci`; the download cache is npm's
# own, ~/.npm), generates the TypeScript client from proto/ with buf, type-checks, bundles
# with Vite and checks the size budgets. Needs Node.js 20.19 or newer with npm.
set -euo pipefail
source "$(dirname "$0")/common.sh"

APP="$ROOT/services/web/app"
command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 (apt-get install nodejs npm)"
cd "$APP"
# npm ci wipes node_modules; skip it while the installed tree matches the lockfile.
stamp="node_modules/.spontan-lock.sha256"
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing the web clients' packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
log "building the web clients"
npm run --silent build

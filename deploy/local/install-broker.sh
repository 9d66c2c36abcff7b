#!/usr/bin/env bash
# Installs the Kafka-compatible broker `tansu` with its SQLite storage engine, once: the build
# takes 12-18 minutes on two cores, so the binary is kept in ~/.cargo/bin and reused.
set -euo pipefail
source "$(dirname "$0")/common.sh"

bin=$(tansu_bin)
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  exit 0
fi
log "installing tansu $TANSU_VERSION (once; about 15 minutes on two cores)"
CARGO_TARGET_DIR="$HOME/.cache/spontan/tansu-target" \
  cargo install tansu --version "$TANSU_VERSION" --locked --features libsql

#!/usr/bin/env bash
# Lints the API contract with buf (STANDARD rules, every element commented), installed from the
# npm registry at a pinned version on first use.
set -euo pipefail
source "$(dirname "$0")/common.sh"
BUF_VERSION="1.50.0"
cd "$ROOT/proto"
npx --yes "@bufbuild/buf@$BUF_VERSION" lint
npx --yes "@bufbuild/buf@$BUF_VERSION" format --diff --exit-code

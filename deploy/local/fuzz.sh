#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time and fails on the first crash (a panic, a
# sanitizer report, a refusal that is not InvalidArgument with field violations). Each target
# decodes arbitrary bytes as a service's requests or event payloads and runs them through the
# validators and conversions.
#
#   deploy/local/fuzz.sh                 # every target, FUZZ_SECONDS (20) each
#   FUZZ_SECONDS=300 deploy/local/fuzz.sh task_requests
#
# Needs the nightly toolchain (sanitizer builds) and cargo-fuzz, installed here if missing.
# Sanitizer builds cannot share the workspace's build directory, so they have their own
# (SPONTAN_FUZZ_TARGET_DIR). Crashing inputs are kept in fuzz/artifacts/<target>/, the corpus
# grows in fuzz/corpus/<target>/ (both ignored by git); reproduce one with
# `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>` in fuzz/.
set -euo pipefail
source "$(dirname "$0")/common.sh"

export CARGO_TARGET_DIR="${SPONTAN_FUZZ_TARGET_DIR:-$HOME/.cache/spontan/fuzz-target}"
seconds="${FUZZ_SECONDS:-20}"

rustup toolchain list | grep -q '^nightly' \
  || die "fuzzing needs the nightly toolchain (rustup toolchain install nightly)"
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz (once)"
  cargo install cargo-fuzz --locked
fi

cd "$ROOT/fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
started=$(date +%s)
log "building ${#targets[@]} fuzz targets (sanitizer build in $CARGO_TARGET_DIR)"
cargo +nightly fuzz build
for target in "${targets[@]}"; do
  log "fuzzing $target for ${seconds}s"
  mkdir -p "corpus/$target"
  cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    || die "$target crashed: the input is in fuzz/artifacts/$target/"
done
log "fuzzing done: ${#targets[@]} targets, no crash, $(( $(date +%s) - started ))s"

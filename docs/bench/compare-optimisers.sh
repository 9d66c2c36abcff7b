#!/usr/bin/env bash
# Compares the matching service's batch optimiser with Python peers (kwok, scipy, OR-Tools
# min-cost flow, HiGHS MIP) on the same generated instances and prints one table.
#
#   docs/bench/compare-optimisers.sh                      # defaults: all families, both sizes
#   docs/bench/compare-optimisers.sh --families uniform --sizes 10000x4000 --mip-limit 30
#
# The peers go into a throwaway virtual environment (SPONTAN_BENCH_VENV, default
# ~/.cache/spontan/bench-venv; delete it at will). Instances are written to a temporary
# directory that is removed at the end (SPONTAN_BENCH_KEEP=1 keeps it). Needs python3 with
# venv, and network access for the first pip install. Takes about 15 minutes on 2 cores, most
# of it the HiGHS MIP runs (--mip-limit seconds each).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/spontan/target}
venv=${SPONTAN_BENCH_VENV:-$HOME/.cache/spontan/bench-venv}

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check kwok scipy numpy ortools highspy

cargo build --quiet --release -p spontan-matching --example optimizer_bench
bin=$CARGO_TARGET_DIR/release/examples/optimizer_bench

work=$(mktemp -d -t spontan-optimise-XXXXXX)
if [ "${SPONTAN_BENCH_KEEP:-0}" != 1 ]; then
  trap 'rm -rf "$work"' EXIT
else
  echo "instances kept in $work" >&2
fi

echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -m); $("$venv/bin/pip" freeze | grep -Ei '^(kwok|scipy|ortools|highspy)==' | tr '\n' ' ')" >&2
"$venv/bin/python" "$root/docs/bench/compare_optimisers.py" --bin "$bin" --work "$work" "$@"

#!/usr/bin/env bash
# Runs the benchmarks and prints their figures (see the README's table).
set -euo pipefail
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/.." && pwd)
"$BUILD/bench/bench_pipeline" "$SRC" "${SCALE:-1}"

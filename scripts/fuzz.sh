#!/usr/bin/env bash
# Runs each libFuzzer target (fuzz/) for RUNS executions on its corpus in
# the repository, then on every saved regression input. New inputs go to
# BUILD/corpus-<target>/, crashes to BUILD/crash-<target>-*, not into the
# tree. Fails if any target crashes, leaks or times out.
#
#   scripts/fuzz.sh [build-fuzz] [runs] [target...]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-fuzz}
RUNS=${2:-10000000}
shift $(( $# >= 2 ? 2 : $# ))
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(task result workflow config json_scan wire stream_json plan api_exchange)
status=0
for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin not built (make fuzz-build)" >&2; exit 2; }
  mkdir -p "$BUILD/corpus-$t"
  log="$BUILD/fuzz-$t.log"
  if "$bin" -runs="$RUNS" -dict="$SRC/fuzz/json.dict" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$BUILD/crash-$t-" \
       "$BUILD/corpus-$t" "$SRC/fuzz/corpus/$t" >"$log" 2>&1; then
    execs=$(grep -oE 'number_of_executed_units:[[:space:]]*[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    cov=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | grep -oE 'cov: [0-9]+ ft: [0-9]+' | tail -1 || true)
    echo "fuzz_$t: ${execs:-?} executions, 0 crashes ($cov)"
  else
    echo "fuzz_$t: FAILED, see $log:" >&2
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 >&2
    status=1
  fi
done
# Inputs that once crashed a target (named <target>-<what>) stay fixed.
for f in "$SRC"/fuzz/regressions/*; do
  [ -e "$f" ] || continue
  t=$(basename "$f"); t=${t%%-*}
  if ! "$BUILD/fuzz_$t" "$f" >"$BUILD/regression.log" 2>&1; then
    echo "regression $(basename "$f"): crashes fuzz_$t again" >&2
    status=1
  fi
done
exit $status

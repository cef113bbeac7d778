#!/usr/bin/env bash
# Drop -> result latency and throughput of `caf-node serve`, next to the
# Python baseline of ../shared/baseline (the same loop with watchdog and
# subprocess) and to the floor of this machine (bench/file_drop_floor.cpp),
# all driven by the baseline's own driver in the same run.
#
#   bench/file_drop.sh [build dir] [runs]
#
# Needs /usr/bin/python3 with python3-watchdog (make deps installs it).
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
RUNS=${2:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BASELINE_DIR:-$SRC/../shared/baseline}
[ -f "$BASE/orchestrator.py" ] || { echo "baseline not found at $BASE (set BASELINE_DIR)" >&2; exit 2; }
PY=/usr/bin/python3
CFG=$(mktemp /tmp/troupe-bench-cfg.XXXXXX.json)
SIM_CFG=$(mktemp /tmp/troupe-bench-sim.XXXXXX.json)
BG_FILE=$(mktemp /var/tmp/troupe-bench-writer.XXXXXX) # the contended run's writer
trap 'rm -f "$CFG" "$SIM_CFG" "$BG_FILE"' EXIT
cat >"$CFG" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "executor": "command", "slots": 2},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "executor": "command", "slots": 2},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "executor": "command", "slots": 2}},
 "executors": {"command": {"argv": ["true"]}}}
JSON
# The same workers on the simulator at 0 ms: what the file drop itself can
# carry when no process is started per task.
sed 's/"executor": "command"/"executor": "sim"/; s/"command": {"argv": \["true"\]}/"sim": {"latency_ms": 0}/' \
  "$CFG" >"$SIM_CFG"
SERVE="$BUILD/caf-node serve --root {root} --config $CFG --log-level warn"
# The least a file drop can do per task, with the same workers and slots.
FLOOR="$BUILD/bench/file_drop_floor {root} marie,anga,fabien 2"
# Only the names differ; both receive marie/anga/fabien tasks.
for tmp in /dev/shm /var/tmp; do
  echo "== $tmp ($(stat -f -c %T "$tmp"))"
  for mode in "latency --n 50" "throughput --n 1000"; do
    echo "-- baseline (Python, watchdog): $mode"
    $PY "$BASE/orchestrator.py" --mode $mode --wait watch --runs "$RUNS" --tmp "$tmp" \
      --worker-names marie,anga,fabien --label baseline | grep SUMMARY
    echo "-- troupe (caf-node serve): $mode"
    $PY "$BASE/orchestrator.py" --mode $mode --wait watch --runs "$RUNS" --tmp "$tmp" \
      --system-cmd "$SERVE" --ready-s 0.5 --label troupe | grep SUMMARY
    echo "-- floor (bench/file_drop_floor: inotify, spawn, result; no actors): $mode"
    $PY "$BASE/orchestrator.py" --mode $mode --wait watch --runs "$RUNS" --tmp "$tmp" \
      --system-cmd "$FLOOR" --ready-s 0.5 --label floor | grep SUMMARY
  done
done
echo "== /dev/shm, troupe with the simulator at 0 ms (no process per task)"
$PY "$BASE/orchestrator.py" --mode throughput --n 5000 --wait watch --runs "$RUNS" --tmp /dev/shm \
  --system-cmd "${SERVE/$CFG/$SIM_CFG}" --ready-s 0.5 --label troupe-sim | grep SUMMARY
# Latency on the disk while another process keeps writing large files there
# (1 GB over and over, so the disk space it takes stays bounded): what a
# result waits for when the disk is shared.
echo "== /var/tmp while another process writes 1 GB files in a loop"
for who in baseline troupe; do
  ( while :; do dd if=/dev/zero of="$BG_FILE" bs=1M count=1000 status=none; done ) &
  writer=$!
  sleep 1
  if [ "$who" = baseline ]; then
    $PY "$BASE/orchestrator.py" --mode latency --n 50 --wait watch --runs "$RUNS" --tmp /var/tmp \
      --worker-names marie,anga,fabien --label baseline-contended | grep SUMMARY
  else
    $PY "$BASE/orchestrator.py" --mode latency --n 50 --wait watch --runs "$RUNS" --tmp /var/tmp \
      --system-cmd "$SERVE" --ready-s 0.5 --label troupe-contended | grep SUMMARY
  fi
  kill "$writer" 2>/dev/null
  wait "$writer" 2>/dev/null || true
  pkill -f "of=$BG_FILE" 2>/dev/null || true
  sync
done

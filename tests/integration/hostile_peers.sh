#!/usr/bin/env bash
# No peer can stop the orchestrator: bad messages on both endpoints (not
# UTF-8, wrong JSON types, nesting 100,000 deep, out-of-range READY slots)
# are answered ERROR and change nothing else; a node that answers a task
# with another task's result fails that attempt instead of holding it.
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
CFG="$SRC/config/troupe.json"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  at_exit
}
trap cleanup EXIT

root=$(fresh_root hostile)
"$CAF_NODE" orchestrator --root "$root" --config "$CFG" --workers 'tcp://127.0.0.1:*' \
  --producers 'tcp://127.0.0.1:*' --events 'tcp://127.0.0.1:*' --heartbeat-ms 100 \
  --ready-file "$root/orch.ready" >"$root/orch.log" 2>&1 &
ORCH=$!
PIDS+=("$ORCH")
$AWAIT --timeout 30 "$root/orch.ready" >/dev/null
W_EP=$(jq -r .workers "$root/orch.ready")
P_EP=$(jq -r .producers "$root/orch.ready")

probe_rc=0
"$PY" "$SRC/tests/integration/hostile_peer.py" "$W_EP" "$P_EP" >"$root/probes.txt" \
  2>"$root/probes.err" || probe_rc=$?
cat "$root/probes.err"
check "every bad message was answered ERROR and the orchestrator answered after each" \
  [ "$probe_rc" -eq 0 ]
check "... and it is still running" kill -0 "$ORCH"
has() { grep -qF -- "$1" "$root/probes.txt"; }
check "a command that is not UTF-8 is quoted, not thrown on" \
  has $'producer command not UTF-8\tERROR\tunknown command "\\xff"'
check "a protocol id that is not UTF-8 is refused on both endpoints" bash -c "
  [ \$(grep -cF \$'protocol id not UTF-8\tERROR\tunknown protocol \"\\\\xff\" (expected TRP1)' '$root/probes.txt') -eq 2 ]"
check "SUBMIT wait \"yes\" names the field" \
  has $'producer wait not a boolean\tERROR\tSUBMIT: wait "yes": must be true or false'
check "SUBMIT with a task and a workflow is refused" \
  has $'producer task and workflow\tERROR\tSUBMIT: give "task" or "workflow", not both'
check "RESULT {worker: 5} names the field" \
  has $'producer RESULT worker a number\tERROR\tRESULT: worker 5: must be a non-empty string'
check "CANCEL {task_id: 7} names the field" \
  has $'producer CANCEL task_id a number\tERROR\tCANCEL: task_id 7: must be a non-empty string'
check "a task nested 100,000 deep is refused, not a stack overflow" \
  has $'producer task nested 100,000 deep\tERROR\tSUBMIT body: not valid JSON: nested deeper than 128 levels'
check "... and a context of 100,000 nested arrays" \
  has $'producer context of 100,000 arrays\tERROR\tSUBMIT body: not valid JSON: nested deeper than 128 levels'
check "a number out of range is refused" \
  grep -qF $'producer number out of range\tERROR\tSUBMIT body: not valid JSON: number overflow' "$root/probes.txt"
check "a refused task's reason lists its problems, graph checks included" \
  has $'producer task depends on itself\tERROR\ttask refused: dependencies: self depends on itself'
check "... and the field of the wrong type" \
  grep -q $'^producer task fields of the wrong type\tERROR\ttask refused: .*description' "$root/probes.txt"
for slots in two 0 -1 4294967297 1e9; do
  check "READY slots $slots is refused" \
    grep -q $'^worker READY slots '"$slots"$'\tERROR\tREADY: slots .*must be an integer from 1 to 1024' \
    "$root/probes.txt"
done
check "the worker endpoint answers malformed messages ERROR (§2)" bash -c "
  grep -q \$'^worker body not JSON\tERROR\tREADY body: not valid JSON' '$root/probes.txt' &&
  grep -q \$'^worker body not an object\tERROR\tREADY body: must be a JSON object' '$root/probes.txt'"
check "no refused READY registered a node, and STATUS shows no root" \
  has $'status after refused READYs\tSTATUS\t0 nodes\tFalse'
for p in "EVENT kind a number" "COOLDOWN wait_ms a string" "SETTLE used a string" \
         "PERMIT prio a number" "DRAIN reason a number" "RESULT nested 100,000 deep" \
         "RESULTS of 100,000 arrays"; do
  check "a registered node's $p is answered ERROR" grep -q "^node $p"$'\tERROR\t' "$root/probes.txt"
done
check "... and changes nothing: the node is still there, not draining" \
  has $'status after bad bodies\tSTATUS\t[\'hostile\']\t[False]'
check "a field of every type in every body: the orchestrator answered after each" \
  grep -q $'^matrix\t[0-9]* probes\tanswered after each' "$root/probes.txt"
check "no task file was written by any of it" \
  bash -c "[ -z \"\$(find '$root/tasks' -name '*.json' 2>/dev/null)\" ]"

# --- a task for a worker no node serves: accepted, and the producer told ---
printf '{"task_id": "idle-1", "worker": "marie", "description": "waits"}' >"$root/idle-1.json"
"$CAF_NODE" submit "$root/idle-1.json" --connect "$P_EP" >"$root/idle-1.out" 2>"$root/idle-1.err"
check "a task no node can run yet is accepted, with nodes: 0" \
  json_is "$root/idle-1.out" 'j["task_id"] == "idle-1" and j["nodes"] == 0'
check "... and submit says why nothing happens yet" \
  grep -q "note: no worker node of marie is connected; its tasks wait in tasks/marie/" "$root/idle-1.err"

# --- a RESULT for another task id fails the attempt, it does not hold it ----
"$PY" "$SRC/tests/integration/mismatched_node.py" "$W_EP" fabien >"$root/mismatched.log" 2>&1 &
PIDS+=("$!")
printf '{"task_id": "mm-1", "worker": "fabien", "description": "a post"}' >"$root/mm-1.json"
rc=0
timeout 60 "$CAF_NODE" submit "$root/mm-1.json" --wait --timeout-s 30 --connect "$P_EP" \
  >"$root/mm-1.out" 2>"$root/mm-1.err" || rc=$?
check "a task answered with another task's result ends failed, not held" \
  bash -c "[ $rc -ne 0 ] && [ \"\$(jq -r .status '$root/mm-1.out')\" = failed ]"
check "... as crashed, saying which result came back" bash -c "
  [ \"\$(jq -r .error.kind '$root/mm-1.out')\" = crashed ] &&
  jq -r .error.message '$root/mm-1.out' | grep -q 'with a result for not-mm-1'"
check "... and the orchestrator says so in its log" grep -q "with a result for not-mm-1" "$root/orch.log"
finish

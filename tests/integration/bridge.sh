#!/usr/bin/env bash
# The ZeroMQ bridge as containers would run it, as processes on loopback: an
# orchestrator, one node per worker, Python producers; a worker node killed
# mid-task, the orchestrator killed and restarted, a file dropped on the
# orchestrator run remotely, a dependency's file handed to a dependent on
# another node, unknown CURVE keys refused.
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
CFG="$SRC/config/troupe.json"
PRODUCERS="$SRC/scripts/producers"
LIVE=(--heartbeat-ms 100 --liveness 3)
PIDS=()      # caf-node processes: killed hard
FOLLOWERS=() # `timeout … follow_events.py`: TERM, which timeout passes on
cleanup() {
  for p in "${FOLLOWERS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  at_exit
}
trap cleanup EXIT

# start_orch <root> [args...]: sets ORCH_PID, W_EP, P_EP, E_EP
start_orch() {
  local root=$1; shift
  rm -f "$root/orch.ready"
  "$CAF_NODE" orchestrator --root "$root" --config "$CFG" --workers "${W_EP_FIXED:-tcp://127.0.0.1:*}" \
    --producers "${P_FIXED:-tcp://127.0.0.1:*}" --events 'tcp://127.0.0.1:*' "${LIVE[@]}" \
    --ready-file "$root/orch.ready" "$@" >>"$root/orch.log" 2>&1 &
  ORCH_PID=$!
  PIDS+=("$ORCH_PID")
  $AWAIT --timeout 30 "$root/orch.ready" || { tail -20 "$root/orch.log"; return 1; }
  W_EP=$(jq -r .workers "$root/orch.ready")
  P_EP=$(jq -r .producers "$root/orch.ready")
  E_EP=$(jq -r .events "$root/orch.ready")
}
# launch_worker <name> <node-dir> [args...]: a worker node in the background
# ($LAST_WORKER); await <node-dir>/ready to know it is connected. `env` execs
# caf-node, so $! is caf-node's own pid; $WORKER_PATH is its PATH.
launch_worker() {
  local name=$1 dir=$2; shift 2
  mkdir -p "$dir"
  rm -f "$dir/ready"
  env PATH="${WORKER_PATH:-$PATH}" "$CAF_NODE" worker "$name" --connect "${W_EP_FIXED:-$W_EP}" \
    --root "$dir" --config "$CFG" "${LIVE[@]}" --ready-file "$dir/ready" "$@" >>"$dir/worker.log" 2>&1 &
  LAST_WORKER=$!
  PIDS+=("$LAST_WORKER")
}
# start_worker <root> <name> <node-dir> [args...]: on the simulator; waits
# until it is connected
start_worker() {
  local name=$2 dir=$3; shift 3
  launch_worker "$name" "$dir" --executor sim "$@"
  $AWAIT --timeout 30 "$dir/ready" || { tail -20 "$dir/worker.log"; return 1; }
}
# fake_worker <name> <node-dir> [args...]: running the fake claude CLI
fake_worker() { WORKER_PATH="$SRC/tests/fake:$PATH" launch_worker "$@"; }
task_json() { # task_json <id> <worker> [deps-json]
  printf '{"task_id": "%s", "worker": "%s", "description": "Task %s for %s.", "dependencies": %s}' \
    "$1" "$2" "$1" "$2" "${3:-[]}"
}

# Follows events of TOPIC into OUT until COUNT arrived (or 30 s), in the
# background ($follow); returns once the follower is connected, so no event
# published after this is missed.
follow_events() { # topic count out
  rm -f "$3.ready"
  timeout 30 "$PY" "$PRODUCERS/follow_events.py" --connect "$E_EP" --topic "$1" --count "$2" \
    --ready-file "$3.ready" >"$3" &
  follow=$!
  FOLLOWERS+=("$follow")
  $AWAIT --timeout 30 "$3.ready"
}

# --- orchestrator + 3 worker nodes + Python producers -----------------------
root=$(fresh_root topo)
start_orch "$root"
for w in marie anga fabien; do
  # marie's node keeps its threads on CPU 0 (--cpus), as a latency setup would
  start_worker "$root" "$w" "$root/node-$w" --sim-latency-ms 20 $([ "$w" != marie ] || echo --cpus 0)
  [ "$w" != marie ] || MARIE_NODE=$LAST_WORKER
done
pass "orchestrator and 3 worker nodes are up as separate processes"
check "a node started with --cpus 0 runs every one of its threads on CPU 0" bash -c "
  for f in /proc/$MARIE_NODE/task/*/status; do grep -q \$'^Cpus_allowed_list:\t0\$' \$f || exit 1; done"
follow_events task.complete 4 "$root/events.jsonl"
task_json py-1 marie >"$root/py-1.json"
check "python producer: submit a task and wait for its result" \
  bash -c "'$PY' '$PRODUCERS/submit_task.py' '$root/py-1.json' --wait --connect '$P_EP' >'$root/py-1.out' 2>/dev/null"
check "... the result came from marie's node" json_is "$root/py-1.out" \
  "j['status'] == 'complete' and j['worker'] == 'marie' and j['simulated']"
check "... and is in results/ on the orchestrator" json_is "$root/results/marie/py-1.json" "j['status'] == 'complete'"
check "... not in the worker node's own folders" [ ! -e "$root/node-marie/results" ]
check "python producer: a workflow and its report" \
  bash -c "'$PY' '$PRODUCERS/submit_workflow.py' '$SRC/workflows/parallel-demo.json' --connect '$P_EP' >'$root/wf.out' 2>'$root/wf.err'"
check "... every task complete, each on its own worker's node" json_is "$root/wf.out" \
  "j['status'] == 'complete' and sorted(t['worker'] for t in j['tasks']) == ['anga', 'fabien', 'marie']"
check "... the report is saved under runs/" bash -c "ls '$root'/runs/wire-*/report.json >/dev/null"
wait "$follow" || true
check "events: followed live (4 task.complete)" [ "$(wc -l <"$root/events.jsonl")" -eq 4 ]
check "caf-node submit --wait: a dependency chain across nodes" bash -c "
  printf '{\"name\": \"chain\", \"tasks\": [%s, %s, %s]}' '$(task_json c1 marie)' '$(task_json c2 anga '["c1"]')' '$(task_json c3 fabien '["c2"]')' >'$root/chain.json'
  '$CAF_NODE' submit '$root/chain.json' --wait --connect '$P_EP' >'$root/chain.out' 2>/dev/null"
check "... c3 got c2's result, c2 got c1's" json_is "$root/chain.out" \
  "[t['task_id'] for t in j['report']['tasks']] == ['c1', 'c2', 'c3'] and j['status'] == 'complete'"
check "a bad task is refused with the reason (exit 2)" bash -c "
  echo '{\"task_id\": \"../x\", \"worker\": \"marie\", \"description\": \"x\"}' >'$root/bad.json'
  '$CAF_NODE' submit '$root/bad.json' --connect '$P_EP' 2>'$root/bad.err'; [ \$? -eq 2 ] && grep -q 'task_id \"../x\": must match' '$root/bad.err'"
check "a workflow with a cycle is refused whole" bash -c "
  printf '{\"name\": \"cyc\", \"tasks\": [%s, %s]}' '$(task_json y1 marie '["y2"]')' '$(task_json y2 anga '["y1"]')' >'$root/cyc.json'
  '$CAF_NODE' submit '$root/cyc.json' --connect '$P_EP' 2>'$root/cyc.err'; [ \$? -eq 2 ] && grep -q 'dependency cycle' '$root/cyc.err' && [ ! -e '$root/tasks/marie/y1.json' ]"
check "resubmitting a finished task id is a no-op" bash -c "
  '$CAF_NODE' submit '$root/py-1.json' --connect '$P_EP' | jq_true '.existing == true'"

# --- CANCEL and RESULT over the wire (a task waiting for a dependency) --------
task_json waits marie '["never"]' >"$root/waits.json"
"$CAF_NODE" submit "$root/waits.json" --connect "$P_EP" >/dev/null
"$PY" - "$P_EP" "$PRODUCERS" >"$root/cancel.txt" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[2])
import troupe_wire as tw
class A: connect = sys.argv[1]; curve_secret = None; server_key = None
s = tw.connect(A)
tw.send(s, "CANCEL", {"worker": "marie", "task_id": "waits"})
print(*tw.recv(s, 10))
tw.send(s, "CANCEL", {"worker": "marie", "task_id": "py-1"})
print(*tw.recv(s, 10))
tw.send(s, "RESULT", {"worker": "marie", "task_id": "waits"})
print(*tw.recv(s, 10))
tw.send(s, "NOPE", {})
print(*tw.recv(s, 10))
PYEOF
check "CANCEL: a task still waiting is cancelled" grep -q "^CANCELLED {'task_id': 'waits', 'was': 'waiting'}" "$root/cancel.txt"
check "CANCEL: a finished task cannot be" grep -q "^ERROR .*is neither waiting nor running" "$root/cancel.txt"
check "RESULT: the cancelled result is there" grep -q "^RESULT .*'status': 'cancelled'" "$root/cancel.txt"
check "an unknown command gets ERROR" grep -q "^ERROR {'reason': 'unknown command \"NOPE\"'}" "$root/cancel.txt"

# --- a file dropped on the orchestrator runs on a remote node ---------------
cat >"$root/tasks/anga/dropped.json" <<EOF
$(task_json dropped anga)
EOF
check "a file dropped into tasks/ on the orchestrator runs on anga's node" \
  $AWAIT --timeout 20 "$root/results/anga/dropped.json"
check "... complete, simulated by the node" json_is "$root/results/anga/dropped.json" "j['status'] == 'complete' and j['simulated']"

# --- status over the wire ---------------------------------------------------
check "caf-node status --connect lists the nodes and the folders" bash -c "
  '$CAF_NODE' status --connect '$P_EP' --json >'$root/status.json' &&
  jq_true '(.nodes | length) == 3 and .workers.marie.done >= 1 and .workers.marie.nodes == 1' '$root/status.json'"
check "... the task cancelled above counts as cancelled, not failed" \
  jq_true '.workers.marie.cancelled == 1 and .workers.marie.failed == 0' "$root/status.json"
check "... and the table has the column" bash -c "
  '$CAF_NODE' status --connect '$P_EP' | grep -Eq '^worker +queued .* rejected +cancelled '"

# --- kill -9 of a worker node mid-task: requeued, completed once ------------
root=$(fresh_root nodekill)
start_orch "$root"
start_worker "$root" marie "$root/node-a" --sim-latency-ms 60000
a=$LAST_WORKER
task_json long-1 marie >"$root/long-1.json"
"$CAF_NODE" submit "$root/long-1.json" --connect "$P_EP" >/dev/null
check "the long task is running on node A" $AWAIT --timeout 20 "$root/tasks/marie/.running/long-1"
follow_events node.down 1 "$root/down.jsonl"
kill -9 "$a"
wait "$follow" || true
check "the orchestrator declares node A dead and requeues its task" \
  jq_true '.requeued == 1 and .worker == "marie"' "$root/down.jsonl"
check "... it waits for a node (no result yet)" [ ! -e "$root/results/marie/long-1.json" ]
start_worker "$root" marie "$root/node-b" --sim-latency-ms 50
check "node B completes the requeued task" $AWAIT --timeout 20 "$root/results/marie/long-1.json"
check "... once: one complete result, no claim or task file left" bash -c "
  [ \$(jq -r .status '$root/results/marie/long-1.json') = complete ] &&
  [ \$(ls '$root/results/marie' | wc -l) -eq 1 ] &&
  [ -z \"\$(ls '$root/tasks/marie/' '$root/tasks/marie/.claimed/' | grep json)\" ]"

# --- kill -9 of the orchestrator, then a restart: no task lost --------------
# One attempt per task: a recovered task sent into a slot that the old run
# still holds would fail, not be retried. The nodes' READY says what they
# still run; the restarted orchestrator waits for those results and takes them.
root=$(fresh_root orchkill)
jq --arg src "$SRC" '(.workers[] | .prompt) |= ($src + "/prompts/" + (split("/") | last))
  | (.workers[] | select(.agents) | .agents) |= ($src + "/prompts/agents/" + (split("/") | last))
  | (.orchestrator.prompt) = ($src + "/prompts/orchestrator.md")
  | .workers[].max_attempts = 1' "$CFG" >"$root/cfg.json"
CFG_SAVED=$CFG; CFG="$root/cfg.json"
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
W_EP_FIXED="tcp://127.0.0.1:$port"
P_FIXED="tcp://127.0.0.1:$pport"
start_orch "$root"
# 1 s a task: when the kill comes (after marie's first two results), the
# next ones are still running, however slowly this machine sees the files.
for w in marie anga; do start_worker "$root" "$w" "$root/node-$w" --sim-latency-ms 1000; done
"$PY" - "$root/batch.json" <<'PYEOF'
import json, sys
tasks = [{"task_id": f"b{i:02d}", "worker": ("marie", "anga")[i % 2], "description": f"batch task {i}"} for i in range(20)]
json.dump({"name": "batch", "tasks": tasks}, open(sys.argv[1], "w"))
PYEOF
"$CAF_NODE" submit "$root/batch.json" --connect "$P_EP" >/dev/null
$AWAIT --timeout 20 "$root/results/marie" 2 >/dev/null
kill -9 "$ORCH_PID"
wait "$ORCH_PID" 2>/dev/null || true # gone, its port free
done_before=$(ls "$root"/results/*/ | grep -c json || true)
check "the orchestrator died with work left ($done_before of 20 done)" [ "$done_before" -lt 20 ]
rm -f "$root/node-marie/ready" "$root/node-anga/ready"
start_orch "$root"
check "the worker nodes come back by themselves" $AWAIT --timeout 30 "$root/node-marie/ready" "$root/node-anga/ready"
check "after the restart all 20 tasks have a result" \
  bash -c "$AWAIT --timeout 60 '$root/results/marie' 10 && $AWAIT --timeout 60 '$root/results/anga' 10"
check "... exactly one each, all complete" bash -c "
  [ \$(ls '$root'/results/*/*.json | wc -l) -eq 20 ] &&
  [ \$(jq -r .status '$root'/results/*/*.json | sort -u) = complete ]"
check "... and no task file or claim is left" bash -c "
  [ -z \"\$(ls '$root'/tasks/marie/*.json '$root'/tasks/anga/*.json '$root'/tasks/*/.claimed/*.json 2>/dev/null)\" ]"
check "... the runs from before the restart answered their recovered tasks" \
  grep -q "answered by its run from before our restart" "$root/orch.log"
check "... and no node was sent a task into a slot it still used" \
  bash -c "! grep -q 'no free slot' '$root'/results/*/*.json"
CFG=$CFG_SAVED
unset W_EP_FIXED P_FIXED

# --- permits come from the orchestrator's rate limiter -----------------------
# The worker node's own config has no limits; the orchestrator's allows two
# API requests a minute. With the fake claude (one turn a run), two of three
# runs start at once and the third waits for the orchestrator's permit.
# Run-level permits are the path without the gateway (the fake claude calls
# no API for one to hold).
root=$(fresh_root permits)
jq --arg src "$SRC" '(.workers[] | .prompt) |= ($src + "/prompts/" + (split("/") | last))
  | (.workers[] | select(.agents) | .agents) |= ($src + "/prompts/agents/" + (split("/") | last))
  | (.orchestrator.prompt) = ($src + "/prompts/orchestrator.md")
  | .limits = {"requests_per_min": 2} | del(.workers[].limits)
  | .gateway = {"enabled": false}' "$CFG" >"$root/orch-cfg.json"
jq 'del(.limits)' "$root/orch-cfg.json" >"$root/node-cfg.json"
CFG_SAVED=$CFG; CFG="$root/orch-cfg.json"
start_orch "$root"
CFG="$root/node-cfg.json"
fake_worker marie "$root/node-marie" --slots 3
$AWAIT --timeout 30 "$root/node-marie/ready"
CFG=$CFG_SAVED
for i in 1 2 3; do
  task_json "p$i" marie >"$root/p$i.json"
  "$CAF_NODE" submit "$root/p$i.json" --connect "$P_EP" >/dev/null
done
check "two runs get permits and complete through the real executor (fake claude)" \
  $AWAIT --timeout 20 "$root/results/marie" 2
check "... run by the claude executor on the node" bash -c "
  [ \$(ls '$root'/node-marie/auth-homes/marie/.claude/fake-calls/ | wc -l) -eq 2 ]"
check "the third waits for the orchestrator's limiter (the node has no limits)" bash -c "
  ! $AWAIT --timeout 2 '$root/results/marie' 3 2>/dev/null &&
  [ \$(ls '$root'/node-marie/auth-homes/marie/.claude/fake-calls/ | wc -l) -eq 2 ]"

# --- a 429 seen on one node holds every node for its retry-after ------------
# marie's CLI (the fake) reports a 429 that it retries after 3 s. Once the
# event is out, anga, on another node, asks for a permit: it may only start
# when the 3 s are over.
root=$(fresh_root cooldown)
jq 'del(.limits)' "$WORK/permits/orch-cfg.json" >"$root/cfg.json"
CFG_SAVED=$CFG; CFG="$root/cfg.json"
start_orch "$root"
follow_events task.api_retry 1 "$root/retry.jsonl"
for w in marie anga; do fake_worker "$w" "$root/node-$w"; done
$AWAIT --timeout 30 "$root/node-marie/ready" "$root/node-anga/ready"
CFG=$CFG_SAVED
printf '{"task_id": "hit", "worker": "marie", "description": "Evaluate. FAKE_CLAUDE:retry:429:3000"}' >"$root/hit.json"
"$CAF_NODE" submit "$root/hit.json" --connect "$P_EP" >/dev/null
wait "$follow" || true
t_retry=$("$PY" -c 'import time; print(time.time())')
task_json after anga >"$root/after.json"
"$CAF_NODE" submit "$root/after.json" --connect "$P_EP" >/dev/null
check "marie's node reported the 429 as an event" bash -c "
  [ -s '$root/retry.jsonl' ] && jq_true '.detail | startswith(\"API 429\")' '$root/retry.jsonl'"
check "both tasks complete" $AWAIT --timeout 20 "$root/results/marie/hit.json" "$root/results/anga/after.json"
check "anga's run started only after marie's retry-after (3 s)" "$PY" - "$root/node-anga/auth-homes/anga/.claude/fake-calls" "$t_retry" <<'PYEOF'
import glob, json, sys
calls = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.json")]
started = min(c["time"] for c in calls)
sys.exit(0 if started - float(sys.argv[2]) >= 2.5 else 1)
PYEOF

# --- a node whose credentials fail parks alone -------------------------------
# Two nodes of marie, each with its own auth home; the fake CLI answers 401
# in one of them. That node gets no more tasks, and the task it failed runs on
# the other node: every task completes once, and the worker does not park.
root=$(fresh_root park)
jq 'del(.limits)' "$WORK/permits/orch-cfg.json" >"$root/cfg.json"
CFG_SAVED=$CFG; CFG="$root/cfg.json"
start_orch "$root"
follow_events node.parked 1 "$root/parked.jsonl"
mkdir -p "$root/node-bad/auth-homes/marie/.claude"
echo 401 >"$root/node-bad/auth-homes/marie/.claude/fake-mode"
for n in bad good; do fake_worker marie "$root/node-$n" --node "marie-$n" --slots 1; done
$AWAIT --timeout 30 "$root/node-bad/ready" "$root/node-good/ready"
CFG=$CFG_SAVED
# One slot each: the first two tasks go one to each node, so the bad one
# gets one for sure.
for i in 1 2 3 4; do
  task_json "k$i" marie >"$root/k$i.json"
  "$CAF_NODE" submit "$root/k$i.json" --connect "$P_EP" >/dev/null
done
check "every task completes although one node's credentials fail" bash -c "
  $AWAIT --timeout 20 '$root'/results/marie/k{1,2,3,4}.json &&
  [ \$(jq -r .status '$root'/results/marie/k*.json | sort -u) = complete ]"
check "... the failing node ran one and got no more; the other ran all four" bash -c "
  [ \$(ls '$root'/node-bad/auth-homes/marie/.claude/fake-calls/ | wc -l) -eq 1 ] &&
  [ \$(ls '$root'/node-good/auth-homes/marie/.claude/fake-calls/ | wc -l) -eq 4 ]"
wait "$follow" || true
check "... the orchestrator published node.parked for it, with the reason" bash -c "
  jq_true '.node == \"marie-bad\" and .worker == \"marie\" and .reason == \"auth\"' '$root/parked.jsonl'"
check "... status shows the node parked" bash -c "
  '$CAF_NODE' status --connect '$P_EP' | grep -q 'marie-bad .*parked after auth: gets no tasks'"
check "... and the worker itself is not parked" [ ! -e "$root/tasks/marie/.parked" ]

# --- a worker whose only node parked runs again when a working node comes ---
# The bad node alone: its 401 fails the task and parks marie (what comes next
# stays in tasks/marie/). A node with working credentials connects: marie runs
# again. After a restart of the orchestrator the bad node says in its READY
# that it is parked, and is given nothing.
root=$(fresh_root parkall)
jq 'del(.limits)' "$WORK/permits/orch-cfg.json" >"$root/cfg.json"
CFG_SAVED=$CFG; CFG="$root/cfg.json"
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
W_EP_FIXED="tcp://127.0.0.1:$port"
P_FIXED="tcp://127.0.0.1:$pport"
start_orch "$root"
mkdir -p "$root/node-bad/auth-homes/marie/.claude"
echo 401 >"$root/node-bad/auth-homes/marie/.claude/fake-mode"
fake_worker marie "$root/node-bad" --node marie-bad --slots 1
$AWAIT --timeout 30 "$root/node-bad/ready"
for i in 1 2; do
  task_json "m$i" marie >"$root/m$i.json"
  "$CAF_NODE" submit "$root/m$i.json" --connect "$P_EP" >/dev/null
done
check "its only node's credentials fail: the task fails (auth) and marie parks" bash -c "
  $AWAIT --timeout 20 '$root/results/marie/m1.json' '$root/tasks/marie/.parked' &&
  [ \$(jq -r .error.kind '$root/results/marie/m1.json') = auth ]"
fake_worker marie "$root/node-good" --node marie-good --slots 1
check "a node with working credentials comes: marie runs again, m2 completes" bash -c "
  $AWAIT --timeout 20 '$root/results/marie/m2.json' &&
  [ \$(jq -r .status '$root/results/marie/m2.json') = complete ]"
check "... on the new node (the parked one ran m1 only), and the park is lifted" bash -c "
  [ \$(ls '$root'/node-bad/auth-homes/marie/.claude/fake-calls/ | wc -l) -eq 1 ] &&
  [ \$(ls '$root'/node-good/auth-homes/marie/.claude/fake-calls/ | wc -l) -eq 1 ] &&
  [ ! -e '$root/tasks/marie/.parked' ]"
kill -9 "$ORCH_PID"
wait "$ORCH_PID" 2>/dev/null || true # gone, its port free
rm -f "$root/node-bad/ready" "$root/node-good/ready"
start_orch "$root"
check "after an orchestrator restart the parked node says so as it reconnects" bash -c "
  $AWAIT --timeout 30 '$root/node-bad/ready' '$root/node-good/ready' &&
  '$CAF_NODE' status --connect '$P_EP' | grep -q 'marie-bad .*parked after auth'"
task_json m3 marie >"$root/m3.json"
"$CAF_NODE" submit "$root/m3.json" --connect "$P_EP" >/dev/null
check "... and m3 runs on the working node" bash -c "
  $AWAIT --timeout 20 '$root/results/marie/m3.json' &&
  [ \$(ls '$root'/node-good/auth-homes/marie/.claude/fake-calls/ | wc -l) -eq 2 ]"
unset W_EP_FIXED P_FIXED
CFG=$CFG_SAVED

# --- a dependent on another node gets its dependency's file ----------------
# Each node has its own root, as in compose: the file marie's node wrote
# travels with the result to the orchestrator and on with the dependent's
# task into fabien's workspace, where fabien's CLI may read it.
root=$(fresh_root handoff)
jq 'del(.limits)' "$WORK/permits/orch-cfg.json" >"$root/cfg.json"
CFG_SAVED=$CFG; CFG="$root/cfg.json"
start_orch "$root"
for w in marie fabien; do fake_worker "$w" "$root/node-$w"; done
$AWAIT --timeout 30 "$root/node-marie/ready" "$root/node-fabien/ready"
CFG=$CFG_SAVED
printf '{"name": "handoff", "synthesize": false, "tasks": [%s, %s]}' "$(task_json h1 marie)" \
  "$(task_json h2 fabien '["h1"]')" >"$root/handoff.json"
check "handoff: a chain over two nodes completes" bash -c "
  '$CAF_NODE' submit '$root/handoff.json' --wait --connect '$P_EP' | jq_true '.status == \"complete\"'"
made=$(jq -r '.artifacts[0]' "$root/results/marie/h1.json")
name=${made#workspaces/marie/}
check "handoff: the orchestrator keeps marie's file under artifacts/marie/h1/" \
  cmp -s "$root/node-marie/$made" "$root/artifacts/marie/h1/$name"
copy=$(realpath "$root/node-fabien/workspaces/fabien/inputs/h1/$name")
check "handoff: fabien's node has it in its workspace, byte for byte" cmp -s "$root/node-marie/$made" "$copy"
call=$(ls "$root"/node-fabien/auth-homes/fabien/.claude/fake-calls/*.json | head -1)
check "handoff: fabien's prompt gives the copy's path, and its CLI may read it" json_is "$call" \
  "'Files it wrote: $copy' in j['stdin'] and any(a.startswith('--allowedTools=') and 'Read(/$copy)' in a for a in j['argv'])"
check "handoff: fabien's result does not count the copy as its own work" json_is "$root/results/fabien/h2.json" \
  "not any('/inputs/' in a for a in j['artifacts'])"

# --- CURVE: encrypted, and unknown keys are refused -------------------------
root=$(fresh_root curve)
mkdir -p "$root/keys/allowed"
for k in orchestrator marie producer stranger; do "$CAF_NODE" keygen "$root/keys/$k" >/dev/null 2>&1; done
cp "$root/keys/marie.pub" "$root/keys/producer.pub" "$root/keys/allowed/"
check "keygen: the secret key is private (0600)" [ "$(stat -c %a "$root/keys/marie.secret")" = 600 ]
check "keygen refuses to overwrite a key pair" bash -c "! '$CAF_NODE' keygen '$root/keys/marie' 2>/dev/null"
chmod 644 "$root/keys/stranger.secret"
task_json sec-1 marie >"$root/sec-1.json"
check "a secret key readable by others is refused" bash -c "
  '$CAF_NODE' submit '$root/sec-1.json' --curve-secret '$root/keys/stranger.secret' --server-key '$root/keys/orchestrator.pub' 2>&1 | grep -q 'must not be readable by group or others'"
chmod 600 "$root/keys/stranger.secret"
start_orch "$root" --curve-secret "$root/keys/orchestrator.secret" --allow "$root/keys/allowed"
start_worker "$root" marie "$root/node-marie" --sim-latency-ms 10 \
  --curve-secret "$root/keys/marie.secret" --server-key "$root/keys/orchestrator.pub"
pass "a worker node with an allowed key connects over CURVE"
check "an allowed producer submits over CURVE" bash -c "
  '$PY' '$PRODUCERS/submit_task.py' '$root/sec-1.json' --wait --connect '$P_EP' \
    --curve-secret '$root/keys/producer.secret' --server-key '$root/keys/orchestrator.pub' 2>/dev/null | jq_true '.status == \"complete\"'"
# Refused handshakes end the command at once, saying why (not after its
# timeout: the same keys would be refused again).
check "a producer with an unknown key gets nothing through, and is told its key was refused" bash -c "
  ! timeout 20 '$CAF_NODE' submit '$root/sec-1.json' --connect '$P_EP' \
    --curve-secret '$root/keys/stranger.secret' --server-key '$root/keys/orchestrator.pub' 2>'$root/stranger.err' &&
  grep -q 'our key was refused.*nothing was submitted' '$root/stranger.err'"
check "a producer without keys gets nothing through, and is told to give them" bash -c "
  ! timeout 20 '$CAF_NODE' submit '$root/sec-1.json' --connect '$P_EP' 2>'$root/nokeys.err' &&
  grep -q 'the orchestrator uses CURVE keys: give --curve-secret and --server-key' '$root/nokeys.err'"
check "the Python producer is told the same: its key was refused" bash -c "
  ! timeout 20 '$PY' '$PRODUCERS/submit_task.py' '$root/sec-1.json' --connect '$P_EP' \
    --curve-secret '$root/keys/stranger.secret' --server-key '$root/keys/orchestrator.pub' 2>'$root/py-stranger.err' &&
  grep -q 'our key was refused.*nothing was submitted' '$root/py-stranger.err'"
check "a producer with the wrong server key is told to check --server-key" bash -c "
  ! timeout 20 '$CAF_NODE' status --connect '$P_EP' \
    --curve-secret '$root/keys/producer.secret' --server-key '$root/keys/stranger.pub' 2>'$root/wrongkey.err' &&
  grep -q 'server-key' '$root/wrongkey.err'"
check "status against an address where nothing listens says so" bash -c "
  ! timeout 20 '$CAF_NODE' status --connect tcp://127.0.0.1:1 2>'$root/nolistener.err' &&
  grep -q 'nothing accepts connections there' '$root/nolistener.err'"
mkdir -p "$root/node-stranger"
"$CAF_NODE" worker anga --connect "$W_EP" --root "$root/node-stranger" --config "$CFG" --executor sim "${LIVE[@]}" \
  --curve-secret "$root/keys/stranger.secret" --server-key "$root/keys/orchestrator.pub" \
  --ready-file "$root/node-stranger/ready" >"$root/node-stranger/worker.log" 2>&1 &
PIDS+=("$!")
STRANGER=$!
check "a worker node with an unknown key is never admitted" bash -c "! $AWAIT --timeout 2 '$root/node-stranger/ready' 2>/dev/null"
check "... it logs that its key was refused" \
  await_change 20 modify "$root/node-stranger/worker.log" grep -q 'our key was refused' "$root/node-stranger/worker.log"
kill -TERM "$STRANGER"
await_exit "$STRANGER"
check "... and still stops on SIGTERM, exit 0 (no send waits for a connection)" [ "$rc" -eq 0 ]
check "... the orchestrator lists only marie's node" bash -c "
  '$CAF_NODE' status --connect '$P_EP' --json --curve-secret '$root/keys/producer.secret' --server-key '$root/keys/orchestrator.pub' |
  jq_true '[.nodes[].worker] == [\"marie\"]'"

# --- a worker node drains on SIGTERM: it finishes its task, takes no new one -
root=$(fresh_root drain)
start_orch "$root"
start_worker "$root" marie "$root/node-a" --sim-latency-ms 2000
NODE_A=$LAST_WORKER
task_json dr-1 marie >"$root/tasks/marie/dr-1.json"
$AWAIT --timeout 20 "$root/tasks/marie/.running/dr-1"
kill -TERM "$NODE_A"
check "the orchestrator hears that node A drains" \
  await_change 20 modify "$root/orch.log" grep -q 'is draining' "$root/orch.log"
task_json dr-2 marie >"$root/tasks/marie/dr-2.json" # arrives while node A drains
await_exit "$NODE_A"
check "a draining node exits 0 once its task is delivered" [ "$rc" -eq 0 ]
check "... its task completed there, on the first attempt" \
  json_is "$root/results/marie/dr-1.json" 'j["status"] == "complete" and j["attempt"] == 1'
check "... it says it drained" grep -q "drained: every result delivered" "$root/node-a/worker.log"
check "... and it took no new task (the one dropped meanwhile has no result)" [ ! -e "$root/results/marie/dr-2.json" ]
start_worker "$root" marie "$root/node-b" --sim-latency-ms 10
check "another node runs the waiting task" $AWAIT --timeout 20 "$root/results/marie/dr-2.json"
check "... and the drained task ran once" bash -c "
  [ \"\$(cat '$root'/runs/*/events.jsonl | jq -r 'select(.event == \"running\" and .task_id == \"dr-1\") | .task_id' | wc -l)\" -eq 1 ]"

# --- a TASK that crossed a node's DRAIN comes back unrun: another node runs it,
# and the node that answered so gets nothing more, even if its DRAIN is lost
root=$(fresh_root handback)
start_orch "$root"
"$PY" "$SRC/tests/integration/stopping_node.py" "$W_EP" marie "$root/handed-back" "$root/second-task" \
  >"$root/stopping-node.log" 2>&1 &
LEAVING=$!
PIDS+=("$LEAVING")
task_json hb-1 marie >"$root/hb-1.json"
"$CAF_NODE" submit "$root/hb-1.json" --wait --timeout-s 30 --connect "$P_EP" >"$root/hb-1.out" 2>"$root/hb-1.err" &
SUBMITTER=$!
PIDS+=("$SUBMITTER")
$AWAIT --timeout 20 "$root/handed-back"
check "a stopping node's unrun answer goes to another node" \
  await_change 20 modify "$root/orch.log" grep -q 'handed back hb-1 unrun' "$root/orch.log"
start_worker "$root" marie "$root/node-b" --sim-latency-ms 10
await_exit "$SUBMITTER" 30
check "the producer waiting for it gets the next node's result: exit 0" [ "$rc" -eq 0 ]
check "... complete, on the first attempt" \
  jq_true '.status == "complete" and .attempt == 1' "$root/hb-1.out"
check "... and the stopping node was given nothing more" [ ! -e "$root/second-task" ]
kill -TERM "$LEAVING"
await_exit "$LEAVING"
check "... it leaves when told (exit 0)" [ "$rc" -eq 0 ]

# --- batches: a node that says "batch" gets its waiting tasks in one TASKS, and
# one RESULTS answers them all (PROTOCOL.md §3)
root=$(fresh_root batch)
start_orch "$root"
for id in b-1 b-2 b-3 b-4; do task_json "$id" marie >"$root/tasks/marie/$id.json"; done
$AWAIT --timeout 20 "$root/tasks/marie/.claimed" 4 # claimed, queued: no node yet
"$PY" "$SRC/tests/integration/batch_node.py" "$W_EP" marie 4 "$root/batch-report.json" \
  >"$root/batch-node.log" 2>&1 &
BATCHER=$!
PIDS+=("$BATCHER")
check "a batch node's report: every ticket acknowledged" $AWAIT --timeout 20 "$root/batch-report.json"
check "... the four waiting tasks came in one TASKS" jq_true '.messages == [4]' "$root/batch-report.json"
check "... one ACK covers the four results of its RESULTS" \
  jq_true '.acks | length == 1 and (.[0].tickets | length) == 4' "$root/batch-report.json"
check "... each result is written once, complete" bash -c "
  for id in b-1 b-2 b-3; do
    jq -e '.status == \"complete\" and .summary == \"done in a batch\"' '$root/results/marie/'\$id.json >/dev/null || exit 1
  done"
check "... the result that does not decode fails that attempt (crashed), which is retried: not held for ever" \
  await_change 20 modify "$root/orch.log" \
  grep -q "retry .*b-4 (marie): crashed: the worker node's result does not decode: status: required" "$root/orch.log"
check "... the entry that is not an object was dropped with a warning" \
  await_change 20 modify "$root/orch.log" grep -q "a RESULT that is not a JSON object was dropped" "$root/orch.log"
kill -TERM "$BATCHER"
await_exit "$BATCHER"
check "... it leaves when told (exit 0)" [ "$rc" -eq 0 ]

# --- stopping: tasks no node has taken go back at once ----------------------
root=$(fresh_root stopping)
start_orch "$root" --grace-s 60
for id in wait-1 wait-2; do task_json "$id" marie >"$root/tasks/marie/$id.json"; done
$AWAIT --timeout 20 "$root/tasks/marie/.claimed" 2 # claimed, queued for a node
kill -TERM "$ORCH_PID"
await_exit "$ORCH_PID"
check "an orchestrator with queued tasks and no node stops at once (not after its 60 s grace), exit 0" [ "$rc" -eq 0 ]
check "... the queued tasks are back in tasks/, unrun" bash -c "
  [ -e '$root/tasks/marie/wait-1.json' ] && [ -e '$root/tasks/marie/wait-2.json' ] &&
  [ -z \"\$(ls -A '$root/results/marie')\" ]"

finish

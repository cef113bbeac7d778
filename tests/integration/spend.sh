#!/usr/bin/env bash
# Spend and control with the fake claude CLI: the cost preview before and
# after a history exists, the estimate beside the actuals in the report;
# cancelling what waits and what runs, in serve, in run, over the wire;
# tasks awaiting approval, answered in serve, in run and over the wire, and
# run --approve-plan.
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  at_exit
}
trap cleanup EXIT
# gone <pid>: the process has ended (or is a zombie nobody reaped yet).
gone() { ! kill -0 "$1" 2>/dev/null || grep -q 'State:.*Z' "/proc/$1/status"; }
hang_task() { # hang_task <id> <worker> [deps-json]
  printf '{"task_id": "%s", "worker": "%s", "description": "FAKE_CLAUDE:hang %s", "dependencies": %s}' \
    "$1" "$2" "$1" "${3:-[]}"
}

CFG="$SRC/config/troupe.json"
WF="$SRC/workflows/parallel-demo.json"
node() { with_fake_claude "$CAF_NODE" "$@"; }

# -- estimate ------------------------------------------------------------------
root=$(fresh_root estimate)
rc=0
node estimate "$WF" --root "$root" --config "$CFG" --json >"$root/before.json" 2>"$root/err.log" || rc=$?
check "estimate exits 0" [ "$rc" -eq 0 ]
check "without a history every task is priced from the list, low <= expected <= high" \
  json_is "$root/before.json" 'all(t["basis"] == "list price" and t["cost_usd"]["low"] <= t["cost_usd"]["expected"] <= t["cost_usd"]["high"] for t in j["tasks"]) and len(j["tasks"]) == 3'
check "estimate runs nothing" [ ! -e "$root/runs" ] 
check "... and calls no CLI" [ ! -e "$root/auth-homes/marie/.claude/fake-calls" ]
node run "$WF" --root "$root" --config "$CFG" --estimate >"$root/run-estimate.txt" 2>>"$root/err.log" || rc=$?
check "run --estimate prints the table and runs nothing" \
  bash -c "grep -q '^total: ' '$root/run-estimate.txt' && [ ! -e '$root/runs' ]"

node run "$WF" --root "$root" --config "$CFG" >"$root/report.md" 2>>"$root/err.log" || rc=$?
check "the run completes" [ "$rc" -eq 0 ]
report=$(ls "$root"/runs/*/report.json)
check "report.json puts the estimate beside the actuals of its 3 tasks" \
  json_is "$report" 'j["estimate"]["compared"] == 3 and all("actual_cost_usd" in t and "inside" in t for t in j["estimate"]["tasks"])'
check "report.md says how many cost what their range said" \
  grep -q "of 3 completed tasks cost what their range said" "$root/report.md"
check "the run keeps its estimate" test -s "$(dirname "$report")/estimate.json"

node estimate "$WF" --root "$root" --config "$CFG" --json --fresh >"$root/after.json" 2>>"$root/err.log"
check "with a history each worker is estimated from it" \
  json_is "$root/after.json" 'all(t["basis"] == "history (1 run)" for t in j["tasks"])'
"$PY" - "$root/after.json" "$report" >"$root/checks" <<'PY'
import json, sys
est = {t["task_id"]: t for t in json.load(open(sys.argv[1]))["tasks"]}
actual = {t["task_id"]: t["cost_usd"] for t in json.load(open(sys.argv[2]))["tasks"]}
inside = all(est[k]["cost_usd"]["low"] <= v <= est[k]["cost_usd"]["high"] for k, v in actual.items())
print(("ok" if inside else "FAIL"), "the history's range holds the costs it learnt from")
PY
read_checks "$root/checks"
node estimate "$WF" --root "$root" --config "$CFG" >"$root/reused.txt" 2>>"$root/err.log"
check "tasks complete in an earlier run are reused at no cost" \
  bash -c "[ \$(grep -c ' reused ' '$root/reused.txt') -eq 3 ] && grep -q '^total: \$0.0000 / \$0.0000 / \$0.0000' '$root/reused.txt'"
node estimate "$WF" --root "$root" --config "$CFG" --fresh --budget-usd 0.000001 >"$root/tight.txt" 2>>"$root/err.log"
check "a budget below the expected cost does not fit" grep -q "^budget: does not fit: the expected" "$root/tight.txt"
node estimate "$WF" --root "$root" --config "$CFG" --fresh --budget-usd 100 >"$root/loose.txt" 2>>"$root/err.log"
check "a budget above the high end fits" grep -q "^budget: fits: even the high estimate" "$root/loose.txt"
rc=0
node estimate "$root/nope.json" --root "$root" --config "$CFG" >/dev/null 2>"$root/missing.log" || rc=$?
check "estimate of a missing workflow exits 2 and says so" \
  bash -c "[ $rc -eq 2 ] && grep -q 'no such file' '$root/missing.log'"

# -- cancel in serve: a running task, a task queued behind it, a dependent ---
root=$(fresh_root cancel-serve)
cat > "$root/cfg.json" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "slots": 1},
             "anga": {"prompt": "$SRC/prompts/ANGA.md"}},
 "gateway": {"enabled": false}}
JSON
PATH="$SRC/tests/fake:$PATH" "$CAF_NODE" serve --root "$root" --config "$root/cfg.json" --ready-file "$root/ready" \
  2>>"$root/serve.log" &
SERVE=$!
PIDS+=("$SERVE")
$AWAIT --timeout 30 "$root/ready"
hang_task t1 marie >"$root/tasks/marie/t1.json"
hang_task t2 marie >"$root/tasks/marie/t2.json" # queued: marie has one slot
hang_task t3 anga '["t1"]' >"$root/tasks/anga/t3.json"
$AWAIT --timeout 20 "$root/tasks/marie/.running/t1" "$root/auth-homes/marie/.claude/fake-hang-child.pid"
child=$(cat "$root/auth-homes/marie/.claude/fake-hang-child.pid")
check "caf-node cancel of a queued task exits 0" node cancel t2 --root "$root"
$AWAIT --timeout 20 "$root/results/marie/t2.json"
check "... it ends cancelled before it ran" json_is "$root/results/marie/t2.json" \
  'j["status"] == "cancelled" and j["error"]["message"] == "cancelled before it ran"'
check "caf-node cancel of the running task exits 0" node cancel t1 --root "$root"
$AWAIT --timeout 20 "$root/results/marie/t1.json" "$root/results/anga/t3.json"
check "the running task ends cancelled" json_is "$root/results/marie/t1.json" \
  'j["status"] == "cancelled" and j["error"]["kind"] == "cancelled" and "while it ran" in j["error"]["message"]'
check "... its whole process group is gone (the CLI's child too)" gone "$child"
check "its dependent ends cancelled, not failed" json_is "$root/results/anga/t3.json" \
  'j["status"] == "cancelled" and "dependency \"t1\" was cancelled" in j["error"]["message"]'
check "the marker is taken" [ ! -e "$root/tasks/marie/t1.cancel" ]
node status --root "$root" --config "$root/cfg.json" --json >"$root/status.json"
check "status counts cancelled apart from failed" json_is "$root/status.json" \
  'j["workers"]["marie"]["cancelled"] == 2 and j["workers"]["marie"]["failed"] == 0 and j["workers"]["anga"]["cancelled"] == 1'
check "the event log says cancelled" bash -c "cat '$root'/runs/*/events.jsonl | grep -q '\"event\":\"cancelled\"'"
rc=0
node cancel nope --root "$root" 2>"$root/nope.err" || rc=$?
check "cancel of a task that is nowhere exits 2 and says so" \
  bash -c "[ $rc -eq 2 ] && grep -q 'no task nope waiting or running' '$root/nope.err'"
kill -TERM "$SERVE"
await_exit "$SERVE"
check "serve then stops cleanly" [ "$rc" -eq 0 ]

# -- cancel --run of a run going in another process --------------------------
root=$(fresh_root cancel-run)
printf '{"name": "long", "tasks": [%s, %s, %s]}' "$(hang_task a marie)" "$(hang_task b anga)" \
  "$(hang_task c fabien '["a", "b"]')" >"$root/wf.json"
PATH="$SRC/tests/fake:$PATH" "$CAF_NODE" run "$root/wf.json" --root "$root" --config "$CFG" \
  >"$root/report.md" 2>"$root/run.log" &
RUN=$!
PIDS+=("$RUN")
$AWAIT --timeout 20 "$root/auth-homes/marie/.claude/fake-hang-child.pid" "$root/auth-homes/anga/.claude/fake-hang-child.pid"
run_id=$(ls "$root/runs")
check "caf-node cancel --run exits 0" node cancel --run "$run_id" --root "$root"
await_exit "$RUN" 30
check "the run ends, exit 1 (not everything completed)" [ "$rc" -eq 1 ]
check "its report counts all three cancelled, none failed" json_is "$root/runs/$run_id/report.json" \
  'j["counts"]["cancelled"] == 3 and j["counts"]["failed"] == 0'
check "... the one that never started says its run was cancelled" json_is "$root/runs/$run_id/report.json" \
  '[t for t in j["tasks"] if t["task_id"] == "c"][0]["error"]["message"].startswith("not run")'
rc=0
node cancel --run "$run_id" --root "$root" 2>"$root/again.err" || rc=$?
check "cancel --run of a finished run exits 2" bash -c "[ $rc -eq 2 ] && grep -q 'has finished' '$root/again.err'"

# -- cancel over the wire: a running task on a worker node, then a run ------
root=$(fresh_root cancel-wire)
"$CAF_NODE" orchestrator --root "$root" --config "$CFG" --workers 'tcp://127.0.0.1:*' \
  --producers 'tcp://127.0.0.1:*' --events 'tcp://127.0.0.1:*' --heartbeat-ms 100 \
  --ready-file "$root/orch.ready" >>"$root/orch.log" 2>&1 &
PIDS+=("$!")
$AWAIT --timeout 30 "$root/orch.ready"
W_EP=$(jq -r .workers "$root/orch.ready")
P_EP=$(jq -r .producers "$root/orch.ready")
for w in marie anga; do
  mkdir -p "$root/node-$w"
  PATH="$SRC/tests/fake:$PATH" "$CAF_NODE" worker "$w" --connect "$W_EP" --root "$root/node-$w" \
    --config "$CFG" --heartbeat-ms 100 --ready-file "$root/node-$w/ready" >>"$root/node-$w/worker.log" 2>&1 &
  PIDS+=("$!")
  $AWAIT --timeout 30 "$root/node-$w/ready"
done
hang_task w1 marie >"$root/w1.json"
"$CAF_NODE" submit "$root/w1.json" --connect "$P_EP" >/dev/null
$AWAIT --timeout 20 "$root/node-marie/auth-homes/marie/.claude/fake-hang-child.pid"
child=$(cat "$root/node-marie/auth-homes/marie/.claude/fake-hang-child.pid")
node cancel w1 --worker marie --connect "$P_EP" >"$root/cancel-w1.json" 2>>"$root/cancel.err" || true
check "CANCEL of a task running on a node answers CANCELLED, was running" \
  json_is "$root/cancel-w1.json" 'j["task_id"] == "w1" and j["was"] == "running"'
check "the cancelled task's result comes back" $AWAIT --timeout 20 "$root/results/marie/w1.json"
check "... its result, from the node, says cancelled" json_is "$root/results/marie/w1.json" \
  'j["status"] == "cancelled" and j["error"]["kind"] == "cancelled"'
check "... and the node stopped the CLI's process group" gone "$child"
rm -f "$root/node-marie/auth-homes/marie/.claude/fake-hang-child.pid"
printf '{"name": "wire-long", "tasks": [%s, %s]}' "$(hang_task x1 marie)" \
  "$(hang_task x2 anga '["x1"]')" >"$root/wf.json"
"$CAF_NODE" submit "$root/wf.json" --wait --connect "$P_EP" >"$root/report.json" 2>>"$root/submit.err" &
SUBMIT=$!
$AWAIT --timeout 20 "$root/node-marie/auth-homes/marie/.claude/fake-hang-child.pid"
run_id=$(sed -n 's/^accepted as run \([^ ]*\) .*/\1/p' "$root/submit.err")
check "submit --wait says which run it waits for" [ -n "$run_id" ]
node cancel --run "$run_id" --connect "$P_EP" >"$root/cancel-run.json" 2>>"$root/cancel.err" || true
check "CANCEL of a wire run names what waited and what ran" \
  json_is "$root/cancel-run.json" 'j["running"] == ["x1"] and j["waiting"] == ["x2"]'
await_exit "$SUBMIT" 30
check "the waiting producer gets its REPORT, every task cancelled" \
  json_is "$root/report.json" 'j["report"]["counts"]["cancelled"] == 2 and j["report"]["counts"]["failed"] == 0'
rc=0
node cancel --run nope --connect "$P_EP" 2>"$root/nope.err" || rc=$?
check "CANCEL of an unknown run is an error with the reason" \
  bash -c "[ $rc -ne 0 ] && grep -q 'no run nope going' '$root/nope.err'"

# SUBMIT keeps a workflow's budget: the run completes within it.
printf '{"name": "wire-budget", "budget_usd": 0.5, "tasks": [{"task_id": "bu1", "worker": "marie", "description": "Evaluate Emma."}, {"task_id": "bu2", "worker": "anga", "description": "Review it.", "dependencies": ["bu1"]}]}' >"$root/wfb.json"
rc=0
"$CAF_NODE" submit "$root/wfb.json" --wait --connect "$P_EP" >"$root/report-b.json" 2>>"$root/submit.err" || rc=$?
check "SUBMIT of a workflow with budget_usd is accepted and runs (exit $rc)"   json_is "$root/report-b.json" 'j["report"]["counts"]["complete"] == 2 and j["report"]["totals"]["cost_usd"] <= 0.5'

# APPROVE over the wire: the task waits at the orchestrator until answered.
printf '{"task_id": "ok1", "worker": "marie", "description": "Evaluate Emma.", "approve": true}' >"$root/ok1.json"
"$CAF_NODE" submit "$root/ok1.json" --connect "$P_EP" >/dev/null
$AWAIT --timeout 20 "$root/tasks/marie/.awaiting/ok1.json"
"$CAF_NODE" status --connect "$P_EP" --json >"$root/wire-status.json"
check "STATUS over the wire lists the task awaiting approval with its estimate" json_is "$root/wire-status.json" \
  'j["workers"]["marie"]["awaiting_approval"][0]["task_id"] == "ok1" and j["workers"]["marie"]["awaiting_approval"][0]["estimate"].startswith("estimate $")'
check "... and it has not run" [ ! -e "$root/results/marie/ok1.json" ]
node approve ok1 --worker marie --connect "$P_EP" >"$root/approve-ok1.json" 2>>"$root/approve.err" || true
check "APPROVE answers APPROVED" json_is "$root/approve-ok1.json" 'j["task_id"] == "ok1" and j["approve"] == True'
check "... and the task then runs on its node and completes" $AWAIT --timeout 20 "$root/results/marie/ok1.json"
check "... complete" json_is "$root/results/marie/ok1.json" 'j["status"] == "complete"'
rc=0
node approve ok1 --worker marie --connect "$P_EP" 2>"$root/again.err" || rc=$?
check "APPROVE of a task that awaits nothing is an error with the reason" \
  bash -c "[ $rc -ne 0 ] && grep -q 'does not await approval' '$root/again.err'"

# -- approval in serve: status shows it, approve runs it, reject ends it -----
root=$(fresh_root approve-serve)
cat > "$root/cfg.json" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "approve": true},
             "anga": {"prompt": "$SRC/prompts/ANGA.md"}},
 "gateway": {"enabled": false}}
JSON
PATH="$SRC/tests/fake:$PATH" "$CAF_NODE" serve --root "$root" --config "$root/cfg.json" --ready-file "$root/ready" \
  2>>"$root/serve.log" &
SERVE=$!
PIDS+=("$SERVE")
$AWAIT --timeout 30 "$root/ready"
printf '{"task_id": "m1", "worker": "marie", "description": "Evaluate Emma."}' >"$root/tasks/marie/m1.json"
printf '{"task_id": "m2", "worker": "marie", "description": "Evaluate Lucas."}' >"$root/tasks/marie/m2.json"
printf '{"task_id": "a1", "worker": "anga", "description": "Review it.", "dependencies": ["m2"]}' >"$root/tasks/anga/a1.json"
printf '{"task_id": "a2", "worker": "anga", "description": "Review this.", "approve": true}' >"$root/tasks/anga/a2.json"
$AWAIT --timeout 20 "$root/tasks/marie/.awaiting/m1.json" "$root/tasks/marie/.awaiting/m2.json" "$root/tasks/anga/.awaiting/a2.json"
node status --root "$root" --config "$root/cfg.json" >"$root/status.txt"
check "a worker with \"approve\": true holds its tasks; status shows them with the estimate" \
  grep -q '^marie/m1 awaits approval since .*: estimate \$.* to \$.*, expected' "$root/status.txt"
check "... and a task with \"approve\": true of another worker too" grep -q '^anga/a2 awaits approval' "$root/status.txt"
check "... nothing of them ran" bash -c "[ -z \"\$(find '$root/results' -name '*.json')\" ]"
check "caf-node approve exits 0" node approve m1 --root "$root"
check "reject --why exits 0" node reject m2 --why "not this week" --root "$root"
$AWAIT --timeout 20 "$root/results/marie/m1.json" "$root/results/marie/m2.json" "$root/results/anga/a1.json"
check "the approved task runs and completes" json_is "$root/results/marie/m1.json" 'j["status"] == "complete"'
check "the rejected one ends cancelled, kind rejected, with why" json_is "$root/results/marie/m2.json" \
  'j["status"] == "cancelled" and j["error"]["kind"] == "rejected" and j["error"]["message"] == "rejected: not this week"'
check "... and its dependent ends cancelled, not run" json_is "$root/results/anga/a1.json" \
  'j["status"] == "cancelled" and "dependency \"m2\" was cancelled" in j["error"]["message"]'
check "the awaiting list is empty for them" bash -c "[ ! -e '$root/tasks/marie/.awaiting/m1.json' ] && [ ! -e '$root/tasks/marie/.awaiting/m2.json' ]"
rc=0
node approve zz --root "$root" 2>"$root/zz.err" || rc=$?
check "approve of a task that awaits nothing exits 2 and says so" \
  bash -c "[ $rc -eq 2 ] && grep -q 'no task zz awaits approval' '$root/zz.err'"
kill -TERM "$SERVE"
await_exit "$SERVE"
check "serve stops with a task still awaiting approval" [ "$rc" -eq 0 ]
check "... which stays in tasks/ for the next start, unanswered" \
  bash -c "[ -e '$root/tasks/anga/a2.json' ] && [ ! -e '$root/results/anga/a2.json' ]"

# -- approval in run, from another terminal; --approve-plan -------------------
root=$(fresh_root approve-run)
printf '{"name": "gated", "tasks": [{"task_id": "g1", "worker": "marie", "description": "Evaluate Emma.", "approve": true}, {"task_id": "g2", "worker": "anga", "description": "Review it.", "dependencies": ["g1"]}]}' >"$root/wf.json"
PATH="$SRC/tests/fake:$PATH" "$CAF_NODE" run "$root/wf.json" --root "$root" --config "$CFG" >"$root/report.md" 2>"$root/run.log" &
RUN=$!
PIDS+=("$RUN")
$AWAIT --timeout 20 "$root/runs"
run_id=$(ls "$root/runs" | head -1)
$AWAIT --timeout 20 "$root/runs/$run_id/awaiting/g1.json"
check "run says how to approve the task" grep -q "g1 (marie) awaits approval, estimate .*: caf-node approve g1 --run $run_id" "$root/run.log"
check "approve --run exits 0" node approve g1 --run "$run_id" --root "$root"
await_exit "$RUN" 30
check "the run then completes (exit $rc)" [ "$rc" -eq 0 ]
check "... both tasks complete" json_is "$root/runs/$run_id/report.json" 'j["counts"]["complete"] == 2' 
rc=0
echo n | node run "Evaluate Emma's hip-hop progress" --root "$root" --config "$CFG" --approve-plan \
  >"$root/plan-no.out" 2>"$root/plan-no.err" || rc=$?
check "run --approve-plan shows the plan and its estimate" \
  bash -c "grep -q '^The plan (' '$root/plan-no.err' && grep -q '^total: ' '$root/plan-no.err' && grep -q 'Run this plan? \[y/N\]' '$root/plan-no.err'"
check "... a no exits 1 and runs nothing" bash -c "[ $rc -eq 1 ] && grep -q 'not approved: nothing ran' '$root/plan-no.err' && [ \$(ls '$root/runs' | wc -l) -eq 1 ]"
rc=0
node run "Evaluate Emma's hip-hop progress" --root "$root" --config "$CFG" --approve-plan \
  </dev/null >"$root/plan-eof.out" 2>"$root/plan-eof.err" || rc=$?
check "... no answer at all (no stdin) is a no" [ "$rc" -eq 1 ]
rc=0
echo yes | node run "Evaluate Emma's hip-hop progress" --root "$root" --config "$CFG" --approve-plan \
  >"$root/plan-yes.out" 2>"$root/plan-yes.err" || rc=$?
check "... a yes runs it (exit $rc)" bash -c "[ $rc -eq 0 ] && [ \$(ls '$root/runs' | wc -l) -eq 2 ]"

finish

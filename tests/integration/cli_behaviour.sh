#!/usr/bin/env bash
# caf-node as a user meets it: help, version, exit codes, error messages.
source "$(dirname "$0")/lib.sh"

expect() { # expect <rc> <stderr-substring> -- command...
  local want=$1 msg=$2; shift 3
  set +e
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  set -e
  if [ "$rc" -eq "$want" ] && grep -qF -- "$msg" "$WORK/err" "$WORK/out"; then
    pass "$* -> $rc, says '$msg'"
  else
    fail "$* -> $rc (want $want), output: $(head -c 400 "$WORK/err" "$WORK/out")"
  fi
}

expect 0 "caf-node 0.1.0" -- "$CAF_NODE" --version
for sub in run validate serve status orchestrator worker submit keygen unpark; do
  expect 0 "Usage: caf-node $sub" -- "$CAF_NODE" "$sub" --help
done
expect 2 "A subcommand is required" -- "$CAF_NODE"
expect 2 "a workflow file or a request is needed" -- "$CAF_NODE" run
expect 2 "--connect is required" -- "$CAF_NODE" worker marie
expect 2 "worker \"ghost\" is not in" -- "$CAF_NODE" worker ghost --connect tcp://127.0.0.1:1 --config "$SRC/config/troupe.json"
expect 2 "--curve-secret and --allow go together" -- "$CAF_NODE" orchestrator --root "$WORK/o1" --config "$SRC/config/troupe.json" --curve-secret x
# Outside a checkout, no config is found either: the missing file is named first.
expect 2 "missing.json is not a workflow file (no such file)" -- bash -c "cd '$WORK' && '$CAF_NODE' run missing.json"
expect 2 "--executor" -- "$CAF_NODE" orchestrator --root "$WORK/o4" --config "$SRC/config/troupe.json" --executor sim
expect 2 "cannot bind the workers endpoint tcp://nonsense" -- "$CAF_NODE" orchestrator --root "$WORK/o2" --config "$SRC/config/troupe.json" --workers tcp://nonsense
expect 2 'CPU list "0,x": "x" is not a CPU number' -- "$CAF_NODE" serve --cpus 0,x --root "$WORK/o3" --config "$SRC/config/troupe.json"
expect 2 "cannot run on CPUs 1000" -- "$CAF_NODE" serve --cpus 1000 --root "$WORK/o3" --config "$SRC/config/troupe.json"

expect 0 "valid workflow (7 tasks)" -- "$CAF_NODE" validate --config "$SRC/config/troupe.json" \
  "$SRC/workflows/complex-choreography.json"
expect 0 "valid config" -- "$CAF_NODE" validate "$SRC/config/troupe.json"
echo '{"name": "one", "tasks": [{"task_id": "a", "worker": "marie", "description": "x"}]}' >"$WORK/one.json"
expect 0 "valid workflow (1 task)" -- "$CAF_NODE" validate --config "$SRC/config/troupe.json" "$WORK/one.json"

cat >"$WORK/cycle.json" <<'JSON'
{"name": "c", "tasks": [
  {"task_id": "a", "worker": "marie", "description": "x", "dependencies": ["b"]},
  {"task_id": "b", "worker": "marie", "description": "x", "dependencies": ["a"]}]}
JSON
expect 1 "dependency cycle: a -> b -> a" -- "$CAF_NODE" validate --config "$SRC/config/troupe.json" "$WORK/cycle.json"
# Schema problems do not hide the graph's: one run shows both.
printf '{"name": "w", "tasks": [{"task_id": "a", "worker": "marie", "dependencies": ["b"]}, {"task_id": "b", "worker": "marie", "description": 5, "dependencies": ["a"]}, {"task_id": "c", "worker": "marie", "description": "x", "dependencies": ["nowhere"]}]}' > "$WORK/both.json"
expect 1 'tasks[1].description 5: must be a non-empty string' -- "$CAF_NODE" validate --config "$SRC/config/troupe.json" "$WORK/both.json"
expect 1 'tasks[2] "c": dependency "nowhere" does not exist' -- "$CAF_NODE" validate --config "$SRC/config/troupe.json" "$WORK/both.json"
expect 1 'tasks[0].description: required' -- "$CAF_NODE" validate --config "$SRC/config/troupe.json" "$WORK/both.json"
expect 2 "dependency cycle: a -> b -> a" -- "$CAF_NODE" run "$WORK/cycle.json" --root "$WORK/r1" --config "$SRC/config/troupe.json"
check "a refused workflow writes no results" [ ! -d "$WORK/r1/results" ]

printf '{"task_id": "../x", "worker": "marie"}' >"$WORK/task.json"
expect 1 'task_id "../x": must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' -- "$CAF_NODE" validate "$WORK/task.json"
expect 1 "description: required" -- "$CAF_NODE" validate "$WORK/task.json"

printf '{"name": "x", "tasks": [{"task_id": "a", "worker": "zoe", "description": "x"}]}' >"$WORK/zoe.json"
expect 2 'tasks[0].worker "zoe": not a configured worker' -- "$CAF_NODE" run "$WORK/zoe.json" --root "$WORK/r2" --config "$SRC/config/troupe.json"

printf '{"workers": {"marie": {"prompt": "../prompts/DANCE.md", "slots": 0, "colour": "red"}}}' >"$WORK/bad-config.json"
expect 2 "workers.marie.slots 0: must be an integer from 1 to 256" -- "$CAF_NODE" run "$SRC/workflows/parallel-demo.json" --config "$WORK/bad-config.json" --root "$WORK/r3"
expect 1 "workers.marie.colour: unknown key" -- "$CAF_NODE" validate "$WORK/bad-config.json"

expect 2 "not valid JSON" -- "$CAF_NODE" run <(echo '{"name":') --root "$WORK/r4" --config "$SRC/config/troupe.json"
expect 2 "is not a workflow file" -- "$CAF_NODE" run missing-workflow.json --root "$WORK/r5" --config "$SRC/config/troupe.json"
expect 2 "is not a workflow file" -- "$CAF_NODE" run "$SRC/workflows" --root "$WORK/r5" --config "$SRC/config/troupe.json"
expect 2 "the request is empty" -- "$CAF_NODE" run "  " --root "$WORK/r5" --config "$SRC/config/troupe.json"
expect 2 "--context FILE: no such file" -- "$CAF_NODE" run "Evaluate all students" --context FILE --root "$WORK/r5" --config "$SRC/config/troupe.json"
expect 2 "apply to a plain-language request" -- "$CAF_NODE" run "$SRC/workflows/parallel-demo.json" --plan-only --root "$WORK/r5" --config "$SRC/config/troupe.json"
expect 2 "no worker matches the request" -- "$CAF_NODE" run "Bake a cake" --executor sim --root "$WORK/r5" --config "$SRC/config/troupe.json"
check "... and nothing ran" [ ! -e "$WORK/r5/runs" ]
expect 2 "--executor: gpt not in {claude,command,sim}" -- "$CAF_NODE" run "$SRC/workflows/parallel-demo.json" --executor gpt

# The command executor: any CLI from an argv template, under supervision.
root=$(fresh_root command)
cat >"$root/cfg.json" <<JSON
{"workers": {
   "marie": {"prompt": "$SRC/prompts/DANCE.md", "executor": "command"},
   "anga": {"prompt": "$SRC/prompts/ANGA.md", "executor": "command"},
   "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "executor": "command"}},
 "executors": {"command": {"argv": ["/bin/sh", "-c",
   "cat {prompt_file} > out-{task_id}.txt; printf '{\\"summary\\": \\"did %s\\", \\"artifacts\\": [\\"out-%s.txt\\"]}' {task_id} {task_id}"]}}}
JSON
expect 0 "3 tasks: 3 complete" -- "$CAF_NODE" run "$SRC/workflows/parallel-demo.json" --root "$root" --config "$root/cfg.json"
check "command executor result has its summary and artifact" json_is "$root/results/anga/demo-anga-review.json" \
  'j["summary"] == "did demo-anga-review" and j["artifacts"] == ["workspaces/anga/out-demo-anga-review.txt"]'
check "... and claims no model: its template was not given {model}" json_is "$root/results/anga/demo-anga-review.json" \
  'j["model"] == ""'
check "the prompt file reached the command" grep -q "Review the attached Python function" "$root/workspaces/anga/out-demo-anga-review.txt"

# The event log of a run is rotated at events.max_mb: 6,000 simulated tasks
# log about 2 MB of events against a limit of 1 MB, keeping one old log.
root=$(fresh_root rotation)
cat >"$root/cfg.json" <<JSON
{"workers": {"anga": {"prompt": "$SRC/prompts/ANGA.md", "executor": "sim", "slots": 8}},
 "executors": {"sim": {"latency_ms": 0}}, "events": {"max_mb": 1, "keep": 1}}
JSON
/usr/bin/python3 -c '
import json, sys
print(json.dumps({"name": "many", "tasks": [
  {"task_id": "t%d" % i, "worker": "anga", "description": "Review change %d." % i}
  for i in range(6000)]}))' >"$root/many.json"
expect 0 "6000 tasks: 6000 complete" -- "$CAF_NODE" run "$root/many.json" --root "$root" --config "$root/cfg.json"
run_dir=$(ls -d "$root"/runs/*/)
check "the event log was rotated once the limit was passed" [ -s "$run_dir/events.1.jsonl" ]
check "no more old logs than events.keep" [ ! -e "$run_dir/events.2.jsonl" ]
for log in events.jsonl events.1.jsonl; do
  check "$log stays within events.max_mb" [ "$(stat -c %s "$run_dir/$log")" -le 1048576 ]
done
check "the newest events are in events.jsonl" grep -q '"event":"run_finished"' "$run_dir/events.jsonl"

# --- Ctrl-C / SIGTERM on `run`: agents stopped, report written, exit 128+sig
r="$WORK/interrupt"
mkdir -p "$r"
cat >"$r/cfg.json" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "executor": "command", "slots": 2}},
 "executors": {"command": {"argv": ["sh", "-c", "echo \$\$ > started.\$1; exec sleep 30", "sh", "{task_id}"]}}}
JSON
cat >"$r/wf.json" <<'JSON'
{"name": "interrupted", "tasks": [
  {"task_id": "a", "worker": "marie", "description": "runs"},
  {"task_id": "b", "worker": "marie", "description": "runs"},
  {"task_id": "c", "worker": "marie", "description": "waits for a slot"},
  {"task_id": "d", "worker": "marie", "description": "after a", "dependencies": ["a"]}]}
JSON
"$CAF_NODE" run "$r/wf.json" --root "$r" --config "$r/cfg.json" --json >"$r/report.out" 2>"$r/run.log" &
RUN_PID=$!
# Each agent writes its pid in the workspace once it runs.
"$PY" "$SRC/tests/integration/await_results.py" --timeout 20 \
  "$r/workspaces/marie/started.a" "$r/workspaces/marie/started.b"
agents=$(cat "$r/workspaces/marie/started.a" "$r/workspaces/marie/started.b" | tr '\n' ' ')
kill -TERM "$RUN_PID"
await_exit "$RUN_PID"
check "an interrupted run exits 143 (128 + SIGTERM) at once" [ "$rc" -eq 143 ]
check "... its two running agents are gone ($agents)" bash -c "
  [ -n '$agents' ] && for p in $agents; do ! kill -0 \$p 2>/dev/null || grep -q 'State:.*Z' /proc/\$p/status || exit 1; done"
check "... the report says how each task ended" jq_true '
  [.tasks[] | {(.task_id): (.status + "/" + .error.kind)}] | add
  == {"a": "failed/crashed", "b": "failed/crashed", "c": "cancelled/stopping", "d": "failed/dependency_failed"}' "$r/report.out"
check "... and the log says it was interrupted" grep -q "interrupted: 0 of 4 tasks complete" "$r/run.log"

finish

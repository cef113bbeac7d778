#!/usr/bin/env bash
# Every workflow in workflows/ end to end: with the simulator, and with the
# fake claude CLI on PATH (the real executor path: subprocess, stdin, JSON).
source "$(dirname "$0")/lib.sh"

for wf in "$SRC"/workflows/*.json; do
  name=$(basename "$wf" .json)
  n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["tasks"]))' "$wf")
  for executor in sim claude; do
    root=$(fresh_root "$name-$executor")
    set +e
    with_fake_claude "$CAF_NODE" run "$wf" --root "$root" --config "$SRC/config/troupe.json" \
      --executor "$executor" --sim-latency-ms 0 >"$root/out.md" 2>"$root/err.log"
    rc=$?
    set -e
    check "$name/$executor exits 0" [ "$rc" -eq 0 ]
    got=$(find "$root/results" -name '*.json' | wc -l)
    check "$name/$executor writes $n results (got $got)" [ "$got" -eq "$n" ]
    bad=0
    for f in "$root"/results/*/*.json; do
      json_is "$f" 'j["status"] == "complete" and j["completed_at"] and j["summary"]' || bad=1
    done
    check "$name/$executor results are complete and well formed" [ "$bad" -eq 0 ]
    run_dir=$(ls -d "$root"/runs/*/)
    check "$name/$executor report.json says complete" json_is "$run_dir/report.json" \
      "j['status'] == 'complete' and j['counts']['complete'] == $n"
    check "$name/$executor report.md printed on stdout" cmp -s "$root/out.md" "$run_dir/report.md"
    bars=$(grep -o 'class="attempt"' "$run_dir/timeline.svg" | wc -l || true)
    check "$name/$executor timeline.svg has a bar per task ($bars), and report.md links it" bash -c "
      [ $bars -eq $n ] && grep -q '](timeline.svg)' '$run_dir/report.md' &&
      [ \$(grep -o '<text' '$run_dir/timeline.svg' | wc -l) -eq \$((1 + \$(ls '$root/results' | wc -l))) ]"
    events=$(grep -c '"event":"complete"' "$run_dir/events.jsonl" || true)
    check "$name/$executor events.jsonl has $n completions" [ "$events" -eq "$n" ]
    check "$name/$executor progress lines on stderr" grep -q "complete " "$root/err.log"
    if [ "$executor" = claude ]; then
      # Each agent wrote an artifact; results point at it relative to the root.
      art_ok=1
      for f in "$root"/results/*/*.json; do
        a=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["artifacts"][0])' "$f")
        [ -f "$root/$a" ] || art_ok=0
      done
      check "$name/claude artifacts exist under the root" [ "$art_ok" -eq 1 ]
      check "$name/claude report is not marked simulated" json_is "$run_dir/report.json" 'not j["simulated"]'
    else
      check "$name/sim report says simulated" grep -q "Simulated run" "$root/out.md"
    fi
  done
done

# Dependent tasks receive their dependencies' results (checked on what the
# fake CLI received on stdin).
root=$(fresh_root handoff)
with_fake_claude "$CAF_NODE" run "$SRC/workflows/sequential-workflow.json" --root "$root" \
  --config "$SRC/config/troupe.json" >/dev/null 2>&1
check "dependent receives its dependencies' summaries on stdin" \
  grep -rlq "Results of the tasks this one builds on" "$root/auth-homes/fabien/.claude/fake-calls"

# Runs $1/wf.json with the fake claude; prints the exit code.
run_wf() {
  set +e
  with_fake_claude "$CAF_NODE" run "$1/wf.json" --root "$1" --config "$SRC/config/troupe.json" >/dev/null 2>&1
  echo $?
  set -e
}

# A failed task fails its dependents with the reason; the unrelated one runs.
root=$(fresh_root failure)
cat >"$root/wf.json" <<'JSON'
{"name": "failure", "tasks": [
  {"task_id": "a", "worker": "anga", "description": "Review. FAKE_CLAUDE:401"},
  {"task_id": "b", "worker": "marie", "description": "Use a", "dependencies": ["a"]},
  {"task_id": "c", "worker": "fabien", "description": "Unrelated"}]}
JSON
rc=$(run_wf "$root")
check "failed workflow exits 1" [ "$rc" -eq 1 ]
check "the failing task says auth" json_is "$root/results/anga/a.json" 'j["error"]["kind"] == "auth"'
check "its dependent fails with the reason" json_is "$root/results/marie/b.json" \
  'j["error"]["kind"] == "dependency_failed" and "\"a\"" in j["error"]["message"]'
check "the unrelated task completes" json_is "$root/results/fabien/c.json" 'j["status"] == "complete"'

# A hanging CLI is killed at the task's deadline and the run goes on.
root=$(fresh_root hang)
cat >"$root/wf.json" <<'JSON'
{"name": "hang", "tasks": [
  {"task_id": "stuck", "worker": "anga", "description": "FAKE_CLAUDE:hang", "timeout_s": 1, "max_attempts": 1}]}
JSON
rc=$(run_wf "$root")
check "hang ends the run with exit 1" [ "$rc" -eq 1 ]
check "hang is a timeout" json_is "$root/results/anga/stuck.json" 'j["error"]["kind"] == "timeout"'
child=$(cat "$root/auth-homes/anga/.claude/fake-hang-child.pid")
check "the hanging CLI's child was killed too" bash -c "! kill -0 $child 2>/dev/null || grep -q '^State:.*Z' /proc/$child/status"

# A worker whose credentials fail parks: its other tasks are not run, and the
# report says why.
root=$(fresh_root parked)
cat >"$root/cfg.json" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "slots": 1},
             "anga": {"prompt": "$SRC/prompts/ANGA.md"}}}
JSON
cat >"$root/wf.json" <<'JSON'
{"name": "parked", "tasks": [
  {"task_id": "m1", "worker": "marie", "description": "FAKE_CLAUDE:401", "priority": "high"},
  {"task_id": "m2", "worker": "marie", "description": "never runs"},
  {"task_id": "m3", "worker": "marie", "description": "never runs either"},
  {"task_id": "a1", "worker": "anga", "description": "unaffected"}]}
JSON
set +e
with_fake_claude "$CAF_NODE" run "$root/wf.json" --root "$root" --config "$root/cfg.json" >"$root/report.md" 2>"$root/err.log"
rc=$?
set -e
check "parked run exits 1" [ "$rc" -eq 1 ]
check "the cause fails with auth" json_is "$root/results/marie/m1.json" 'j["error"]["kind"] == "auth"'
check "the rest of the queue is cancelled as parked" json_is "$root/results/marie/m2.json" \
  'j["status"] == "cancelled" and j["error"]["kind"] == "parked" and "parked after auth" in j["error"]["message"]'
check "... without running" [ "$(ls "$root/auth-homes/marie/.claude/fake-calls" | wc -l)" -eq 1 ]
check "other workers are unaffected" json_is "$root/results/anga/a1.json" 'j["status"] == "complete"'
check "the report says why" grep -q "\*\*parked\*\*: not run: worker marie is parked after auth" "$root/report.md"
check "the console says so" grep -q "worker marie parked: auth" "$root/err.log"

# --- the same root again: what is complete is not run again ---------------------
AWAIT="$PY $SRC/tests/integration/await_results.py"
wf=$SRC/workflows/sequential-workflow.json # a chain of three
events_of() { # events_of <root> <kind>: task ids of the last run's <kind> events
  local last
  last=$(ls -td "$1"/runs/*/ | head -1)
  "$PY" -c 'import json, sys
print(" ".join(sorted(e["task_id"] for e in map(json.loads, open(sys.argv[1])) if e.get("event") == sys.argv[2])))' \
    "$last/events.jsonl" "$2"
}
root=$(fresh_root resume)
sim=(--root "$root" --config "$SRC/config/troupe.json" --executor sim --sim-latency-ms 0)
"$CAF_NODE" run "$wf" "${sim[@]}" >/dev/null 2>&1
set +e
"$CAF_NODE" run "$wf" "${sim[@]}" >"$root/again.md" 2>"$root/again.log"
rc=$?
set -e
check "run again in the same root: exits 0" [ "$rc" -eq 0 ]
check "... says the 3 tasks were complete already" grep -q "3 of 3 tasks complete in an earlier run" "$root/again.log"
check "... and runs none of them" [ -z "$(events_of "$root" running)" ]
check "... its report still lists all 3 complete" grep -q "3 complete, 0 failed" "$root/again.md"
"$PY" - "$wf" "$root/changed.json" <<'PYEOF'
import json, sys
wf = json.load(open(sys.argv[1]))
wf["tasks"][1]["description"] += " Mind the costumes."
json.dump(wf, open(sys.argv[2], "w"))
PYEOF
"$CAF_NODE" run "$root/changed.json" "${sim[@]}" >/dev/null 2>&1
check "one task changed: it and the task after it run, the first does not" \
  [ "$(events_of "$root" running)" = "seq-announce seq-schedule-review" ]
"$CAF_NODE" run "$wf" "${sim[@]}" --fresh >/dev/null 2>&1
check "--fresh runs all three" [ "$(events_of "$root" running)" = "seq-announce seq-choreo seq-schedule-review" ]
# Interrupted once its first task is done, then resumed by its run id.
root=$(fresh_root resume-int)
"$CAF_NODE" run "$wf" --root "$root" --config "$SRC/config/troupe.json" --executor sim \
  --sim-latency-ms 1500 >/dev/null 2>"$root/first.log" &
pid=$!
$AWAIT --timeout 30 "$root/results/marie/seq-choreo.json"
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
check "Ctrl-C stops the run (exit $rc)" [ "$rc" -ne 0 ]
run_id=$(basename "$(ls -d "$root"/runs/*/)")
unfinished=$("$PY" -c 'import glob, json, sys
done = {json.load(open(f))["task_id"] for f in glob.glob(sys.argv[1] + "/results/*/*.json") if json.load(open(f))["status"] == "complete"}
print(" ".join(sorted({"seq-choreo", "seq-schedule-review", "seq-announce"} - done)))' "$root")
set +e
"$CAF_NODE" run --resume "$run_id" --root "$root" --config "$SRC/config/troupe.json" --executor sim \
  --sim-latency-ms 0 >"$root/resumed.md" 2>"$root/resumed.log"
rc=$?
set -e
check "run --resume $run_id: exits 0" [ "$rc" -eq 0 ]
check "... it ran only what had not completed ($unfinished)" \
  [ -n "$unfinished" -a "$(events_of "$root" running)" = "$unfinished" ]
check "... and all three are complete" grep -q "3 complete, 0 failed" "$root/resumed.md"
set +e
"$CAF_NODE" run --resume nope --root "$root" >/dev/null 2>"$root/nope.log"
rc=$?
set -e
check "--resume of no such run: exit 2 with a message" bash -c "[ $rc -eq 2 ] && grep -q 'no such run' '$root/nope.log'"

# --- a workflow budget holds with the simulator too -------------------------------
root=$(fresh_root sim-budget)
"$PY" - "$SRC/workflows/parallel-demo.json" "$root/wf.json" <<'PYEOF'
import json, sys
wf = json.load(open(sys.argv[1]))
wf["budget_usd"] = 0.015 # a simulated run costs about $0.0105
json.dump(wf, open(sys.argv[2], "w"))
PYEOF
set +e
"$CAF_NODE" run "$root/wf.json" --root "$root" --config "$SRC/config/troupe.json" --executor sim \
  --sim-latency-ms 0 --json >"$root/report.json" 2>"$root/err.log"
set -e
check "a sim workflow under a \$0.015 budget spends no more" "$PY" -c 'import glob, json, sys
spent = sum(json.load(open(f))["cost_usd"] for f in glob.glob(sys.argv[1] + "/results/*/*.json"))
print(f"  spent ${spent:.4f}")
sys.exit(0 if 0 < spent <= 0.015 + 1e-9 else 1)' "$root"
check "... and the tasks past it say budget" grep -q '"budget"' "$root/report.json"

finish

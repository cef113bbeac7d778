#!/usr/bin/env bash
# The file drop against a real `caf-node serve`: the design's own example,
# bad input, dependencies across workers, concurrent direct writers, kill -9
# and restart, graceful stop.
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
SERVE_PID=""

start_serve() { # root [extra options]
  local root=$1; shift
  rm -f "$root/ready"
  "$CAF_NODE" serve --root "$root" --config "${CONFIG:-$SRC/config/troupe.json}" --ready-file "$root/ready" "$@" 2>>"$root/serve.log" &
  SERVE_PID=$!
  # --ready-file appears once the watches are in place.
  $AWAIT --timeout 30 "$root/ready" || { cat "$root/serve.log"; return 1; }
}
stop_serve() {
  [ -n "$SERVE_PID" ] || return 0
  kill -TERM "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null
  local rc=$?
  SERVE_PID=""
  return $rc
}
trap 'stop_serve; at_exit' EXIT

# --- the design's example: cat > file << EOF, then wait for the result -------
root=$(fresh_root example)
start_serve "$root" --executor sim --sim-latency-ms 10
cat > "$root/tasks/marie/eval-001.json" << 'JSON'
{"task_id": "eval-001", "worker": "marie", "description": "Create hip-hop evaluation for Emma Rodriguez",
 "dependencies": [], "priority": "high",
 "context": {"student_name": "Emma Rodriguez", "date": "2025-11-17", "evaluation_type": "hip-hop"}}
JSON
check "design example: the result appears" $AWAIT --timeout 20 "$root/results/marie/eval-001.json"
check "design example: complete" json_is "$root/results/marie/eval-001.json" 'j["status"] == "complete" and j["task_id"] == "eval-001"'
check "design example: the task file is gone, no claim left" bash -c "[ ! -e '$root/tasks/marie/eval-001.json' ] && [ -z \"\$(ls -A '$root/tasks/marie/.claimed')\" ]"
# Dropping it again: a no-op (the result stays the same file).
before=$(stat -c %Y.%i "$root/results/marie/eval-001.json")
cp "$SRC/workflows/README.md" "$root/tasks/marie/notes.txt" # not a task: ignored
printf '{"task_id": "eval-001", "worker": "marie", "description": "again"}' > "$root/tasks/marie/eval-001.json"
printf '{"task_id": "ping", "worker": "marie", "description": "after the duplicate"}' > "$root/tasks/marie/ping.json"
$AWAIT --timeout 20 "$root/results/marie/ping.json"
check "a duplicate drop is a no-op" [ "$(stat -c %Y.%i "$root/results/marie/eval-001.json")" = "$before" ]
check "the duplicate file was removed" [ ! -e "$root/tasks/marie/eval-001.json" ]
check "non-task files are left alone" [ -e "$root/tasks/marie/notes.txt" ]
stop_serve
check "serve exits 0 on SIGTERM" [ $? -eq 0 ]

# --- bad input corpus: each gets a rejected result with the reason ----------
root=$(fresh_root bad)
start_serve "$root" --executor sim --sim-latency-ms 0 --max-task-bytes 2048
t="$root/tasks/marie"
printf 'this is not JSON' > "$t/notjson.json"
printf '{"task_id": "noworker", "description": "x"}' > "$t/noworker.json"
printf '{"task_id": "../escape", "worker": "marie", "description": "x"}' > "$t/traversal.json"
printf '{"task_id": "wrongfolder", "worker": "anga", "description": "x"}' > "$t/wrongfolder.json"
printf '{"task_id": "other-name", "worker": "marie", "description": "x"}' > "$t/misnamed.json"
printf '{"task_id": "prio", "worker": "marie", "description": "x", "priority": "urgent"}' > "$t/prio.json"
"$PY" -c 'import json; print(json.dumps({"task_id": "huge", "worker": "marie", "description": "x" * 5000}))' > "$t/huge.json"
printf '{"task_id": "good-1", "worker": "marie", "description": "valid neighbour"}' > "$t/good-1.json"
printf '{"task_id": "good-2", "worker": "marie", "description": "valid neighbour"}' > "$t/good-2.json"
printf '{"task_id": "tmp", "worker": "marie", "description": "x"}' > "$t/.hidden.json"
printf 'garbage' > "$t/editing.json.tmp"
printf 'garbage' > "$t/backup.json~"
r="$root/results/marie"
check "bad corpus: every file got a result" $AWAIT --timeout 20 "$r/notjson.json" "$r/noworker.json" "$r/traversal.json" \
  "$r/wrongfolder.json" "$r/misnamed.json" "$r/prio.json" "$r/huge.json" "$r/good-1.json" "$r/good-2.json"
rej() { json_is "$r/$1.json" "j['status'] == 'rejected' and $2"; }
check "not JSON" rej notjson '"not valid JSON" in j["error"]["message"]'
check "missing worker" rej noworker '"worker: required" in j["error"]["message"]'
check "path traversal" rej traversal "'task_id \"../escape\": must match' in j['error']['message']"
check "worker not the folder" rej wrongfolder "'does not match the folder tasks/marie/' in j['error']['message']"
check "file not named after its id" rej misnamed "'must be named other-name.json' in j['error']['message']"
check "bad priority" rej prio "'must be one of high, medium, low' in j['error']['message']"
check "over the size limit" rej huge "'more than the limit of 2048' in j['error']['message']"
check "valid neighbours unaffected" bash -c "$(declare -f json_is); PY=$PY; json_is '$r/good-1.json' 'j[\"status\"] == \"complete\"' && json_is '$r/good-2.json' 'j[\"status\"] == \"complete\"'"
check "bad files moved aside" [ -e "$t/.rejected/notjson.json" ] && [ -e "$t/.rejected/huge.json" ]
check "dotfiles and temp names ignored" bash -c "[ -e '$t/.hidden.json' ] && [ -e '$t/editing.json.tmp' ] && [ ! -e '$r/tmp.json' ] && [ ! -e '$r/editing.json' ]"
# A half-written file is not judged: the writer keeps it open, then finishes.
exec 7>"$t/slow.json"
printf '{"task_id": "slow", "worker": "mar' >&7
check "an open, half-written file is not rejected" bash -c "! $AWAIT --timeout 0.5 '$r/slow.json' 2>/dev/null"
printf 'ie", "description": "written in two steps"}' >&7
exec 7>&-
check "the same file completes once closed" $AWAIT --timeout 20 "$r/slow.json"
check "... and runs" json_is "$r/slow.json" 'j["status"] == "complete"'
# A shell's `>` then `>>`: closed half written, then completed. One run of
# the whole file, no rejection of either half.
printf '{"task_id": "two-step", "worker": "marie",' > "$t/two-step.json"
printf ' "description": "written with > then >>"}' >> "$t/two-step.json"
check "a file written with > then >> runs whole" $AWAIT --timeout 20 "$r/two-step.json"
check "... complete, and neither half rejected" bash -c "$(declare -f json_is); PY=$PY
  json_is '$r/two-step.json' 'j[\"status\"] == \"complete\"' && [ -z \"\$(ls '$t/.rejected' | grep two-step)\" ]"
stop_serve

# --- dependencies across workers, dropped in reverse order -------------------
root=$(fresh_root deps)
start_serve "$root" --executor sim --sim-latency-ms 5
printf '{"task_id": "c", "worker": "fabien", "description": "announce", "dependencies": ["b"]}' > "$root/tasks/fabien/c.json"
printf '{"task_id": "b", "worker": "anga", "description": "review", "dependencies": ["a"]}' > "$root/tasks/anga/b.json"
check "status shows what a task waits for" bash -c "'$CAF_NODE' status --root '$root' --config '$SRC/config/troupe.json' | grep -q 'fabien/c waits for: b'"
check "status --json counts the waiting" bash -c "'$CAF_NODE' status --root '$root' --json --config '$SRC/config/troupe.json' > '$root/st.json' && $(declare -f json_is); PY=$PY; json_is '$root/st.json' 'j[\"workers\"][\"anga\"][\"waiting\"] == 1 and j[\"workers\"][\"anga\"][\"waiting_for\"][\"b\"] == [\"a\"]'"
printf '{"task_id": "a", "worker": "marie", "description": "evaluate"}' > "$root/tasks/marie/a.json"
check "chain a -> b -> c completes" $AWAIT --timeout 20 "$root/results/fabien/c.json"
check "c got b's result as context" bash -c "grep -q 'built on 1 dependency' '$root/results/fabien/c.json'"
printf '{"task_id": "f1", "worker": "marie", "description": "x", "context": {"sim_outcome": "failed", "sim_error_kind": "auth"}}' > "$root/tasks/marie/f1.json"
printf '{"task_id": "f2", "worker": "anga", "description": "x", "dependencies": ["f1"]}' > "$root/tasks/anga/f2.json"
check "dependent of a failure gets a result" $AWAIT --timeout 20 "$root/results/anga/f2.json"
check "... failed with the reason" json_is "$root/results/anga/f2.json" \
  'j["status"] == "failed" and j["error"]["kind"] == "dependency_failed" and "f1" in j["error"]["message"] and "auth" in j["error"]["message"]'
stop_serve

# A chain that waits when its root fails: each fails, naming the root and
# its reason, as `run` says it of the same workflow (one engine for both).
# All files are there before serve starts: its first scan reads them all
# before any result can come back, so g2..g60 wait, whatever the order.
root=$(fresh_root chain)
mkdir -p "$root/tasks/marie" "$root/tasks/anga"
"$PY" - "$root" << 'PYEOF'
import json, sys
root = sys.argv[1]
ts = [{"task_id": "g1", "worker": "marie", "description": "x", "context": {"sim_outcome": "failed", "sim_error_kind": "auth"}}]
ts += [{"task_id": f"g{i}", "worker": "anga", "description": "x", "dependencies": [f"g{i-1}"]} for i in range(2, 61)]
for t in ts:
    json.dump(t, open(f"{root}/tasks/{t['worker']}/{t['task_id']}.json", "w"))
json.dump({"name": "chain", "synthesize": False, "tasks": ts}, open(f"{root}/chain.json", "w"))
PYEOF
start_serve "$root" --executor sim --sim-latency-ms 5
check "a waiting chain fails with its root" $AWAIT --timeout 20 "$root/results/anga/g60.json"
check "... naming the root and its reason" json_is "$root/results/anga/g60.json" \
  'j["error"]["kind"] == "dependency_failed" and j["error"]["message"].startswith("dependency \"g1\" failed (auth:")'
"$CAF_NODE" run "$root/chain.json" --root "$root/run" --config "${CONFIG:-$SRC/config/troupe.json}" --executor sim >/dev/null 2>&1 || true
check "... as run says it of the same workflow" "$PY" -c '
import json, sys
a, b = (json.load(open(p))["error"]["message"] for p in sys.argv[1:])
sys.exit(0 if a == b else 1)' "$root/results/anga/g60.json" "$root/run/results/anga/g60.json"
stop_serve

# --- a cycle, or a dependency nothing provides, ends; it does not wait ------
# `validate` refuses both in a workflow; dropped files get a result naming it.
root=$(fresh_root deps-never)
# Each run takes 1.5 s, longer than the 1 s a dependency is waited for.
start_serve "$root" --executor sim --sim-latency-ms 1500 --dependency-wait-s 1
printf '{"task_id": "x", "worker": "marie", "description": "x", "dependencies": ["y"]}' > "$root/tasks/marie/x.json"
printf '{"task_id": "y", "worker": "anga", "description": "y", "dependencies": ["z"]}' > "$root/tasks/anga/y.json"
printf '{"task_id": "z", "worker": "fabien", "description": "z", "dependencies": ["x"]}' > "$root/tasks/fabien/z.json"
check "each task of a dependency cycle gets a result" \
  $AWAIT --timeout 20 "$root/results/marie/x.json" "$root/results/anga/y.json" "$root/results/fabien/z.json"
check "... all failed as dependency_failed" bash -c "
  [ \"\$(jq -r '.status + \"/\" + .error.kind' '$root'/results/*/[xyz].json | sort -u)\" = failed/dependency_failed ]"
check "... and the cycle is named" bash -c "
  cat '$root'/results/*/[xyz].json | grep -qE 'dependency cycle: (x -> y -> z -> x|y -> z -> x -> y|z -> x -> y -> z)'"
printf '{"task_id": "lonely", "worker": "marie", "description": "l", "dependencies": ["nowhere"]}' > "$root/tasks/marie/lonely.json"
printf '{"task_id": "slow", "worker": "anga", "description": "s"}' > "$root/tasks/anga/slow.json"
printf '{"task_id": "after-slow", "worker": "fabien", "description": "a", "dependencies": ["slow"]}' > "$root/tasks/fabien/after-slow.json"
check "a dependency that no file provides fails its dependent after the wait" \
  $AWAIT --timeout 20 "$root/results/marie/lonely.json"
check "... naming it" json_is "$root/results/marie/lonely.json" \
  'j["status"] == "failed" and j["error"]["kind"] == "dependency_failed" and "no task nowhere" in j["error"]["message"]'
check "a dependency that runs longer than the wait is waited for" $AWAIT --timeout 20 "$root/results/fabien/after-slow.json"
check "... and its dependent completes" json_is "$root/results/fabien/after-slow.json" 'j["status"] == "complete"'
# A simulated run completes when its 1.5 s have passed, not when it began:
# its completed_at is close to when its result file was written.
check "a simulated result's completed_at is when it completed" "$PY" -c '
import datetime, json, os, sys
p = sys.argv[1]
done = datetime.datetime.fromisoformat(json.load(open(p))["completed_at"].replace("Z", "+00:00"))
sys.exit(0 if abs(os.path.getmtime(p) - done.timestamp()) < 1.0 else 1)' "$root/results/anga/slow.json"
stop_serve

# --- 1,000 tasks from 3 concurrent direct writers: none lost -----------------
root=$(fresh_root writers)
start_serve "$root" --executor sim --sim-latency-ms 0
"$PY" - "$root" <<'PYEOF'
import json, os, sys, threading
root = sys.argv[1]
def writer(k):
    for i in range(k, 1000, 3):
        w = ("marie", "anga", "fabien")[i % 3]
        body = json.dumps({"task_id": f"t{i:04d}", "worker": w, "description": "concurrent direct write " * 8})
        # Direct write in two pieces, like a slow `cat > file`.
        with open(f"{root}/tasks/{w}/t{i:04d}.json", "w") as f:
            f.write(body[: len(body) // 2]); f.flush()
            f.write(body[len(body) // 2 :])
ts = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
[t.start() for t in ts]; [t.join() for t in ts]
PYEOF
ok=1
$AWAIT --timeout 60 "$root/results/marie" 334 && $AWAIT --timeout 60 "$root/results/anga" 333 && $AWAIT --timeout 60 "$root/results/fabien" 333 || ok=0
check "1,000 direct writes by 3 writers: 1,000 results" [ "$ok" -eq 1 ]
bad=$("$PY" -c '
import json, glob, sys
n = 0
for f in glob.glob(sys.argv[1] + "/results/*/*.json"):
    if json.load(open(f))["status"] != "complete": n += 1
print(n)' "$root")
check "... all complete (none judged half-written)" [ "$bad" -eq 0 ]
stop_serve

# --- kill -9 during a 1,000-task batch, then restart: one intact result each -
root=$(fresh_root crash)
"$PY" - "$root" <<'PYEOF'
import json, os, sys
root = sys.argv[1]
for w in ("marie", "anga", "fabien"):
    os.makedirs(f"{root}/tasks/{w}", exist_ok=True)
for i in range(1000):
    w = ("marie", "anga", "fabien")[i % 3]
    with open(f"{root}/tasks/{w}/k{i:04d}.json", "w") as f:
        json.dump({"task_id": f"k{i:04d}", "worker": w, "description": "crash test"}, f)
PYEOF
cat > "$root/cfg.json" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "executor": "command", "slots": 4},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "executor": "command", "slots": 4},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "executor": "command", "slots": 4}},
 "executors": {"command": {"argv": ["sleep", "0.05"]}}}
JSON
"$CAF_NODE" serve --root "$root" --config "$root/cfg.json" 2>>"$root/serve.log" &
SERVE_PID=$! # stopped by the EXIT trap if the wait below fails
# Kill it in the middle of the batch: once some results exist.
$AWAIT --timeout 30 "$root/results/marie" 50 || { tail -20 "$root/serve.log"; exit 1; }
# A second node on the same root would recover the first one's claims and
# run them again: it refuses, naming the holder, and touches nothing.
claims_before=$(ls "$root/tasks/marie/.claimed" | sort)
rc=0; "$CAF_NODE" serve --root "$root" --config "$root/cfg.json" >"$root/second.out" 2>"$root/second.err" || rc=$?
check "a second serve on a held root exits 2" [ "$rc" -eq 2 ]
check "... naming the holder: caf-node serve and its pid" grep -q "in use by caf-node serve (pid $SERVE_PID on host" "$root/second.err"
rc=0; "$CAF_NODE" orchestrator --root "$root" --config "$root/cfg.json" --workers tcp://127.0.0.1:0 \
  --producers tcp://127.0.0.1:0 --events tcp://127.0.0.1:0 >/dev/null 2>"$root/third.err" || rc=$?
check "an orchestrator on it is refused the same way (exit 2)" bash -c "[ $rc -eq 2 ] && grep -q 'pid $SERVE_PID' '$root/third.err'"
kept=0; for c in $claims_before; do
  if [ -e "$root/tasks/marie/.claimed/$c" ] || [ -e "$root/results/marie/$c" ]; then kept=$((kept + 1)); fi; done
check "... and the first one's claims were left alone ($kept of $(echo $claims_before | wc -w) still claimed or done by it)" \
  [ "$kept" -eq "$(echo $claims_before | wc -w)" ]
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=
partial=$(find "$root/results" -name '*.json' | wc -l)
check "the batch was interrupted mid-way ($partial of 1000 done)" [ "$partial" -lt 1000 ]
"$CAF_NODE" serve --root "$root" --config "$root/cfg.json" 2>>"$root/serve.log" &
SERVE_PID=$!
restarted=$SERVE_PID
$AWAIT --timeout 60 "$root/results/marie" 334 && $AWAIT --timeout 60 "$root/results/anga" 333 && $AWAIT --timeout 60 "$root/results/fabien" 333
stop_serve
check "after kill -9 the lock is gone with its holder: the restart serves the root" grep -q "\"pid\":$restarted," "$root/.troupe.lock"
check "after restart: exactly 1,000 result files" [ "$(find "$root/results" -name '*.json' | wc -l)" -eq 1000 ]
intact=$("$PY" -c '
import json, glob, sys
ok = 0
for f in glob.glob(sys.argv[1] + "/results/*/*.json"):
    j = json.load(open(f))
    ok += j["status"] == "complete" and f.endswith("/" + j["task_id"] + ".json")
print(ok)' "$root")
check "... every one intact and complete" [ "$intact" -eq 1000 ]
leftover=$(find "$root/results" "$root/tasks" -type f \( -name '.*' -o -path '*/tasks/*' \) | head -5)
check "... no temp files, claims or tasks left ($leftover)" [ -z "$leftover" ]

# serve_long_task <root> <grace>: serve with a `sleep 30` agent, task "long"
# dropped; returns once it runs (its marker is there).
serve_long_task() {
  cat > "$1/cfg.json" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "executor": "command"}},
 "executors": {"command": {"argv": ["sleep", "30"]}}}
JSON
  CONFIG="$1/cfg.json" start_serve "$1" --grace-s "$2"
  printf '{"task_id": "long", "worker": "marie", "description": "x"}' > "$1/tasks/marie/long.json"
  $AWAIT --timeout 10 "$1/tasks/marie/.running/long"
}

# --- graceful stop hands unfinished tasks back --------------------------------
root=$(fresh_root handback)
check "a running task has its marker" serve_long_task "$root" 0.2
check "status counts it as running" bash -c "CONFIG= '$CAF_NODE' status --root '$root' --config '$root/cfg.json' --json | grep -q '\"running\": 1'"
child=$(pgrep -P "$SERVE_PID" -f "sleep 30" || true)
stop_serve
check "graceful stop exits 0" [ $? -eq 0 ]
check "the unfinished task is back in tasks/" [ -e "$root/tasks/marie/long.json" ]
check "... with no result" [ ! -e "$root/results/marie/long.json" ]
check "... and its process is gone" bash -c "[ -n '$child' ] && { ! kill -0 '$child' 2>/dev/null || grep -q 'State:.*Z' /proc/'$child'/status; }"

# --- a second signal ends the grace at once --------------------------------
root=$(fresh_root second-signal)
serve_long_task "$root" 60
kill -TERM "$SERVE_PID"
await_change 20 modify "$root/serve.log" grep -q 'again to stop at once' "$root/serve.log"
kill -TERM "$SERVE_PID"
await_exit "$SERVE_PID"
SERVE_PID=""
check "a second SIGTERM stops serve at once (not after its 60 s grace), exit 0" [ "$rc" -eq 0 ]
check "... the running task is back in tasks/, with no result" bash -c "
  [ -e '$root/tasks/marie/long.json' ] && [ ! -e '$root/results/marie/long.json' ]"

# --- stopping: what runs finishes, what waits goes back unrun ---------------
root=$(fresh_root stopping)
cat > "$root/cfg.json" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "executor": "command", "slots": 1}},
 "executors": {"command": {"argv": ["sleep", "3"]}}}
JSON
CONFIG="$root/cfg.json" start_serve "$root" --grace-s 30
printf '{"task_id": "first", "worker": "marie", "description": "x"}' > "$root/tasks/marie/first.json"
$AWAIT --timeout 10 "$root/tasks/marie/.running/first"
for q in q1 q2; do
  printf '{"task_id": "%s", "worker": "marie", "description": "x"}' "$q" > "$root/tasks/marie/$q.json"
done
# Both queued behind "first" (one slot, 3 s: ample time to stop) before the stop.
check "two tasks wait behind the running one" \
  await_change 20 moved_to "$root/tasks/marie/.claimed" count_is 3 "$root/tasks/marie/.claimed"
stop_serve
check "stop exits 0" [ $? -eq 0 ]
check "the running task finished within the grace" json_is "$root/results/marie/first.json" 'j["status"] == "complete"'
check "the waiting ones are back in tasks/, with no result" bash -c "
  for q in q1 q2; do [ -e '$root/tasks/marie/'\$q.json ] && [ ! -e '$root/results/marie/'\$q.json ] || exit 1; done"
check "... and never started (no running event)" bash -c "
  ! cat '$root'/runs/*/events.jsonl | jq -r 'select(.event == \"running\") | .task_id' | grep -q '^q'"
check "... the log says why" grep -q "q1 (marie): stopping: not started" "$root/serve.log"

# --- a worker whose credentials fail parks; its tasks wait in tasks/ --------
root=$(fresh_root parked)
cat > "$root/cfg.json" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "slots": 1},
             "anga": {"prompt": "$SRC/prompts/ANGA.md"}}}
JSON
mkdir -p "$root/auth-homes/marie/.claude"
echo 401 > "$root/auth-homes/marie/.claude/fake-mode" # every call of marie: 401
PATH="$SRC/tests/fake:$PATH" CONFIG="$root/cfg.json" start_serve "$root"
printf '{"task_id": "p1", "worker": "marie", "description": "x", "priority": "high"}' > "$root/tasks/marie/.p1.tmp"
mv "$root/tasks/marie/.p1.tmp" "$root/tasks/marie/p1.json"
check "the first task fails with auth" $AWAIT --timeout 20 "$root/results/marie/p1.json"
check "... its result says auth" json_is "$root/results/marie/p1.json" 'j["error"]["kind"] == "auth"'
check "the worker is parked, with the reason" $AWAIT --timeout 20 "$root/tasks/marie/.parked"
printf '{"task_id": "p2", "worker": "marie", "description": "x"}' > "$root/tasks/marie/p2.json"
printf '{"task_id": "a1", "worker": "anga", "description": "x"}' > "$root/tasks/anga/a1.json"
check "other workers go on" $AWAIT --timeout 20 "$root/results/anga/a1.json"
check "a parked worker's task waits in tasks/, with no result" bash -c "[ -e '$root/tasks/marie/p2.json' ] && [ ! -e '$root/results/marie/p2.json' ]"
check "status says why" bash -c "'$CAF_NODE' status --root '$root' --config '$root/cfg.json' | grep -q 'marie is parked: .*auth'"
stop_serve

# --- a parked worker runs again on caf-node unpark, without a restart ----------
root=$(fresh_root unpark)
start_serve "$root" --executor sim --sim-latency-ms 0
printf '{"task_id": "bad-key", "worker": "marie", "description": "x", "context": {"sim_outcome": "failed", "sim_error_kind": "auth"}}' \
  >"$root/tasks/marie/bad-key.json"
check "a failure that needs a person parks the worker" $AWAIT --timeout 20 "$root/tasks/marie/.parked"
printf '{"task_id": "after", "worker": "marie", "description": "x"}' >"$root/tasks/marie/after.json"
check "... status says so" bash -c "'$CAF_NODE' status --root '$root' | grep -q 'marie is parked: auth'"
check "caf-node unpark marie: exits 0" bash -c "'$CAF_NODE' unpark marie --root '$root' | grep -q 'marie unparked'"
check "... and the task that waited runs" $AWAIT --timeout 20 "$root/results/marie/after.json"
check "... complete" json_is "$root/results/marie/after.json" 'j["status"] == "complete"'
check "unpark of a worker that is not parked says so" bash -c "'$CAF_NODE' unpark marie --root '$root' 2>&1 | grep -q 'not parked'"
check "unpark of no such worker: exit 2" bash -c "'$CAF_NODE' unpark ghost --root '$root' 2>/dev/null; [ \$? -eq 2 ]"
stop_serve

finish

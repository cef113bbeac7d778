#!/usr/bin/env bash
# Cancelling a RUNNING task with the real pinned Claude Code CLI against the
# mock Messages API in `hang` mode (it never answers, so the task provably
# runs until it is stopped):
#  - in `caf-node serve`: `caf-node cancel <id>` ends it cancelled, the CLI's
#    whole process group is gone, the event log says cancelled, status counts
#    it cancelled (not failed), and the worker then runs a new task;
#  - in a `caf-node run` going in the background: `caf-node cancel --run`
#    ends the hanging task and its dependent cancelled, and the run exits;
#  - over the wire: a worker node's running task cancelled through the
#    orchestrator (`caf-node cancel <id> --worker W --connect EP`).
source "$(dirname "$0")/lib.sh"
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
AWAIT="$PY $SRC/tests/integration/await_results.py"
if [ ! -x "$CLI" ]; then
  fail "the pinned Claude Code CLI is not installed ($CLI): run make test"
  finish
fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
  at_exit
}
trap cleanup EXIT
export MARIE_KEY=sk-test-marie ANGA_KEY=sk-test-anga
# Unique to this run of the script: task ids carry it, and so does every
# CLI's environment (the gateway's task tag: worker=...;task=<id>;...).
TAG=$(basename "$WORK" | tr -dc 'a-zA-Z0-9' | tail -c 7)

mock=$(fresh_root mock)
"$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$mock/port" --log "$mock/requests.jsonl" \
  >>"$mock/mock.log" 2>&1 &
PIDS+=("$!")
$AWAIT --timeout 20 "$mock/port"
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$mock/port")"
touch "$mock/requests.jsonl"
mode() { # switches the mock's behaviour
  "$PY" -c "import urllib.request, sys; urllib.request.urlopen(urllib.request.Request(
    sys.argv[1] + '/_control', data=sys.argv[2].encode())).read()" "$ANTHROPIC_BASE_URL" "{\"mode\": \"$1\"}"
}
cfg=$mock/cfg.json
cat >"$cfg" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "api_key_env": "MARIE_KEY", "deadline_s": 50, "max_turns": 3, "max_attempts": 1},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "api_key_env": "ANGA_KEY", "deadline_s": 50, "max_turns": 3, "max_attempts": 1}},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON

# mock_saw <text>: the mock has logged a request (hanging or not) whose
# last user message holds <text>.
mock_saw() { grep -F "$1" "$mock/requests.jsonl" | grep -q '"status": "hang"'; }
# cli_of <parent pid>: the pid of the parent's child that leads its own
# process group (the CLI run_process started), if there is one.
cli_of() {
  local p
  for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    if [ "$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $3}')" = "$p" ]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
# procs <pgid> <task_id>: the pids (other than its own) in that process
# group, or whose environment or command line names the task (the CLI's
# environment holds the gateway's task tag, "...;task=<id>;...").
procs() {
  "$PY" -c 'import os, sys
me, pgid, tag = os.getpid(), sys.argv[1], ("task=" + sys.argv[2] + ";").encode()
for p in filter(str.isdigit, os.listdir("/proc")):
    if int(p) == me:
        continue
    try:
        stat = open(f"/proc/{p}/stat").read()
        named = any(tag in open(f"/proc/{p}/{f}", "rb").read() for f in ("environ", "cmdline"))
    except OSError:
        continue  # gone meanwhile
    if stat[stat.rindex(")") + 2:].split()[2] == pgid or named:
        print(p)' "$1" "$2"
}
# is_task_cli <pid> <task_id>: the pid leads its own process group and is
# the process that names the task, the only one.
is_task_cli() { [ -n "$1" ] && [ "$(procs "$1" "$2")" = "$1" ]; }
# none_left <pgid> <task_id>: no process is left in that group, none names the task.
none_left() {
  local left
  left=$(procs "$1" "$2")
  [ -z "$left" ] || { echo "  left: $(ps -o pid=,pgid=,args= -p "$(echo $left | tr ' ' ,)")"; false; }
}
run_dir() { ls -d "$1"/runs/*/ 2>/dev/null | head -1; } # the (first) run's folder
events_have() { # events_have <root> <event> <task_id>
  cat "$1"/runs/*/events.jsonl 2>/dev/null \
    | jq -e -s --arg e "$2" --arg t "$3" 'any(.[]; .event == $e and .task_id == $t)' >/dev/null
}
hang_task() { # hang_task <id> <worker> [deps-json]
  printf '{"task_id": "%s", "worker": "%s", "description": "Evaluate Emma (%s).", "dependencies": %s}' \
    "$1" "$2" "$1" "${3:-[]}"
}

# --- a running task in serve ------------------------------------------------
root=$(fresh_root serve)
mode hang
PATH="$PATH" "$CAF_NODE" serve --root "$root" --config "$cfg" --ready-file "$root/ready" \
  2>>"$root/serve.log" &
SERVE=$!
PIDS+=("$SERVE")
$AWAIT --timeout 30 "$root/ready" >/dev/null
id=hang-$TAG
hang_task "$id" marie >"$root/tasks/marie/.$id.tmp"
mv "$root/tasks/marie/.$id.tmp" "$root/tasks/marie/$id.json"
check "the task's request reached the mock, which holds it" \
  await_change 30 close_write "$mock" mock_saw "($id)"
check "... its running event is in the event log" \
  await_change 10 modify "$(run_dir "$root")" events_have "$root" running "$id"
cli=$(cli_of "$SERVE" || true)
check "the CLI runs in a process group of its own, named for the task" \
  is_task_cli "$cli" "$id"
check "... and the task is not done yet" [ ! -e "$root/results/marie/$id.json" ]
check "caf-node cancel of the running task exits 0" "$CAF_NODE" cancel "$id" --root "$root"
check "its result is written" $AWAIT --timeout 20 "$root/results/marie/$id.json"
check "... status cancelled, error kind cancelled, while it ran" json_is "$root/results/marie/$id.json" \
  'j["status"] == "cancelled" and j["error"]["kind"] == "cancelled" and "while it ran" in j["error"]["message"]'
check "the CLI's process group is gone, no process names the task" none_left "$cli" "$id"
check "... and the gateway ended its request upstream at once, not when the API would answer" \
  await_change 10 modify "$root/serve.log" grep -q "$id.*its task was cancelled" "$root/serve.log"
check "the cancelled event is in the event log" \
  await_change 10 modify "$(run_dir "$root")" events_have "$root" cancelled "$id"
"$CAF_NODE" status --root "$root" --config "$cfg" --json >"$root/status.json"
check "status --json counts it cancelled, not failed" json_is "$root/status.json" \
  'j["workers"]["marie"]["cancelled"] == 1 and j["workers"]["marie"]["failed"] == 0 and j["workers"]["marie"]["running"] == 0'
"$CAF_NODE" status --root "$root" --config "$cfg" >"$root/status.txt"
check "status says so in its table (failed 0, cancelled 1)" \
  awk '$1 == "marie" { found = 1; ok = ($7 == 0 && $9 == 1) } END { exit !(found && ok) }' "$root/status.txt"
mode ok
hang_task "next-$TAG" marie >"$root/tasks/marie/.next.tmp"
mv "$root/tasks/marie/.next.tmp" "$root/tasks/marie/next-$TAG.json"
check "the worker then runs a new task to the end" $AWAIT --timeout 30 "$root/results/marie/next-$TAG.json"
check "... complete with the mock's answer" json_is "$root/results/marie/next-$TAG.json" \
  'j["status"] == "complete" and j["summary"].startswith("Mock answer to: ")'
kill -TERM "$SERVE"
await_exit "$SERVE"
check "serve then stops cleanly" [ "$rc" -eq 0 ]

# --- cancel --run of a run going in the background ------------------------------
root=$(fresh_root run)
mkdir -p "$root/runs"
a=run-a-$TAG b=run-b-$TAG
printf '{"name": "hangs", "tasks": [%s, %s]}' "$(hang_task "$a" marie)" "$(hang_task "$b" anga "[\"$a\"]")" \
  >"$root/wf.json"
mode hang
PATH="$PATH" "$CAF_NODE" run "$root/wf.json" --root "$root" --config "$cfg" \
  >"$root/report.md" 2>"$root/run.log" &
RUN=$!
PIDS+=("$RUN")
check "the run's folder appears" await_change 20 create "$root/runs" bash -c "[ -n \"\$(ls '$root/runs')\" ]"
run_id=$(ls "$root/runs")
check "the first task's request reached the mock, which holds it" \
  await_change 30 close_write "$mock" mock_saw "($a)"
cli=$(cli_of "$RUN" || true)
check "its CLI runs in a group of its own" is_task_cli "$cli" "$a"
check "caf-node cancel --run exits 0" "$CAF_NODE" cancel --run "$run_id" --root "$root"
await_exit "$RUN" 30
check "the run ends, exit 1 (not everything completed)" [ "$rc" -eq 1 ]
check "the hanging task ended cancelled, error kind cancelled" json_is "$root/results/marie/$a.json" \
  'j["status"] == "cancelled" and j["error"]["kind"] == "cancelled"'
check "its dependent ended cancelled, not failed" json_is "$root/results/anga/$b.json" \
  'j["status"] == "cancelled" and j["error"]["kind"] == "cancelled"'
check "report.json counts both cancelled, none failed" json_is "$root/runs/$run_id/report.json" \
  'j["counts"]["cancelled"] == 2 and j["counts"]["failed"] == 0 and sorted(t["status"] for t in j["tasks"]) == ["cancelled", "cancelled"]'
check "the CLI's process group is gone, no process names the task" none_left "$cli" "$a"
check "... the dependent's CLI never started" bash -c "! grep -Fq '($b)' '$mock/requests.jsonl'"
check "the run's event log says cancelled, for both" \
  bash -c "$(declare -f events_have); events_have '$root' cancelled '$a' && events_have '$root' cancelled '$b'"

# --- over the wire: a worker node's running task -------------------------------
root=$(fresh_root wire)
"$CAF_NODE" orchestrator --root "$root" --config "$cfg" --workers 'tcp://127.0.0.1:*' \
  --producers 'tcp://127.0.0.1:*' --events 'tcp://127.0.0.1:*' --heartbeat-ms 100 \
  --ready-file "$root/orch.ready" >>"$root/orch.log" 2>&1 &
PIDS+=("$!")
$AWAIT --timeout 30 "$root/orch.ready" >/dev/null
W_EP=$(jq -r .workers "$root/orch.ready")
P_EP=$(jq -r .producers "$root/orch.ready")
mkdir -p "$root/node-marie"
PATH="$PATH" "$CAF_NODE" worker marie --connect "$W_EP" --root "$root/node-marie" \
  --config "$cfg" --heartbeat-ms 100 --ready-file "$root/node-marie/ready" >>"$root/node-marie/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
$AWAIT --timeout 30 "$root/node-marie/ready" >/dev/null
w=wire-$TAG
hang_task "$w" marie >"$root/w.json"
"$CAF_NODE" submit "$root/w.json" --connect "$P_EP" >/dev/null 2>>"$root/submit.err"
check "the node's task reached the mock, which holds it" \
  await_change 30 close_write "$mock" mock_saw "($w)"
cli=$(cli_of "$WORKER" || true)
check "its CLI runs in a group of its own on the node" is_task_cli "$cli" "$w"
"$CAF_NODE" cancel "$w" --worker marie --connect "$P_EP" >"$root/cancel.json" 2>>"$root/cancel.err" || true
check "CANCEL over the wire answers: it was running" \
  json_is "$root/cancel.json" "j['task_id'] == '$w' and j['was'] == 'running'"
check "the cancelled result comes back" $AWAIT --timeout 20 "$root/results/marie/$w.json"
check "... status cancelled, error kind cancelled" json_is "$root/results/marie/$w.json" \
  'j["status"] == "cancelled" and j["error"]["kind"] == "cancelled"'
check "the node's CLI process group is gone, no process names the task" none_left "$cli" "$w"
mode ok
hang_task "$w-next" marie >"$root/w2.json"
"$CAF_NODE" submit "$root/w2.json" --connect "$P_EP" >/dev/null 2>>"$root/submit.err"
check "the node then runs a new task to the end" $AWAIT --timeout 30 "$root/results/marie/$w-next.json"
check "... complete with the mock's answer" json_is "$root/results/marie/$w-next.json" \
  'j["status"] == "complete" and j["summary"].startswith("Mock answer to: ")'

# --- over the wire, a workflow's written answer ---------------------------------
# An orchestrator with an LLM of its own (orchestrator.prompt) writes a
# submitted workflow's answer, as `run` does; the REPORT carries it.
root=$(fresh_root wire-answer)
export ORCH_KEY=sk-test-orch
"$PY" - "$cfg" "$root/cfg.json" "$SRC/prompts/orchestrator.md" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["orchestrator"] = {"prompt": sys.argv[3], "api_key_env": "ORCH_KEY", "deadline_s": 50}
json.dump(c, open(sys.argv[2], "w"))
PYEOF
"$CAF_NODE" orchestrator --root "$root" --config "$root/cfg.json" --workers 'tcp://127.0.0.1:*' \
  --producers 'tcp://127.0.0.1:*' --events 'tcp://127.0.0.1:*' --heartbeat-ms 100 \
  --ready-file "$root/orch.ready" >>"$root/orch.log" 2>&1 &
ORCH=$!
PIDS+=("$ORCH")
$AWAIT --timeout 30 "$root/orch.ready" >/dev/null
W_EP=$(jq -r .workers "$root/orch.ready")
P_EP=$(jq -r .producers "$root/orch.ready")
mkdir -p "$root/node-marie"
"$CAF_NODE" worker marie --connect "$W_EP" --root "$root/node-marie" \
  --config "$root/cfg.json" --heartbeat-ms 100 --ready-file "$root/node-marie/ready" >>"$root/node-marie/worker.log" 2>&1 &
PIDS+=("$!")
$AWAIT --timeout 30 "$root/node-marie/ready" >/dev/null
printf '{"name": "answered", "synthesize": true, "tasks": [{"task_id": "ans-%s", "worker": "marie", "description": "Evaluate Emma (ans-%s)."}]}' \
  "$TAG" "$TAG" >"$root/wf.json"
rc=0
"$CAF_NODE" submit "$root/wf.json" --wait --connect "$P_EP" >"$root/report.json" 2>>"$root/submit.err" || rc=$?
check "a submitted workflow with synthesize completes (exit $rc)" json_is "$root/report.json" 'j["status"] == "complete"'
check "... its REPORT carries the orchestrator's written answer" json_is "$root/report.json" \
  'j["report"]["answer"].startswith("# Mock synthesis") and j["report"]["orchestrator_cost_usd"] > 0'
check "... written by the orchestrator's own key" bash -c "grep -q '\"api_key\": \"sk-test-orch\"' '$mock/requests.jsonl'"
run_dir=$(ls -d "$root"/runs/wire-*/ | head -1)
check "... and report.md starts with it" bash -c "head -1 '$run_dir/report.md' | grep -qx '# Mock synthesis'"
kill -TERM "$ORCH"
await_exit "$ORCH"
check "the orchestrator with its LLM stops cleanly (exit $rc)" [ "$rc" -eq 0 ]

finish

#!/usr/bin/env bash
# Spend control with the real pinned Claude Code CLI against the mock API,
# on `caf-node serve`:
#  - a worker parked by a spend limit whose message names its end runs
#    again by itself at that moment (the task that waited in tasks/ runs);
#  - the account's cap per day (limits.spend_per_day_usd) parks the claude
#    workers with spend_cap, status shows the day's spend, and a restart
#    goes on counting from <root>/spend/;
#  - the same cap on a worker node: its gateway settles each request with the
#    orchestrator, whose ledger it is, and the next task waits there;
#  - a task awaiting approval reaches the API only after `caf-node approve`;
#  - a run stopped by Ctrl-C and resumed runs only what had not completed.
source "$(dirname "$0")/lib.sh"
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
AWAIT="$PY $SRC/tests/integration/await_results.py"
if [ ! -x "$CLI" ]; then
  fail "the pinned Claude Code CLI is not installed ($CLI): run make test"
  finish
fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  at_exit
}
trap cleanup EXIT
export MARIE_KEY=sk-test-marie

start_mock() { # start_mock <dir>: a mock API of its own; sets MOCK_URL
  "$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$1/port" --log "$1/requests.jsonl" \
    >>"$1/mock.log" 2>&1 &
  PIDS+=("$!") # not in a subshell: the cleanup must see it
  $AWAIT --timeout 20 "$1/port" >/dev/null
  MOCK_URL="http://127.0.0.1:$(cat "$1/port")"
}
control() { # control <url> <json>: sets the mock's mode
  "$PY" -c "import urllib.request, sys; urllib.request.urlopen(urllib.request.Request(
    sys.argv[1] + '/_control', data=sys.argv[2].encode())).read()" "$1" "$2"
}
config() { # config <file> <limits-json>
  cat >"$1" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "api_key_env": "MARIE_KEY",
                       "deadline_s": 60, "max_turns": 3, "max_attempts": 1}},
 "limits": $2,
 "gateway": {"enabled": false},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON
}
drop() { # drop <root> <id>: a task for marie, written whole
  printf '{"task_id": "%s", "worker": "marie", "description": "Evaluate Emma (%s)."}' "$2" "$2" \
    >"$1/tasks/marie/.$2.tmp"
  mv "$1/tasks/marie/.$2.tmp" "$1/tasks/marie/$2.json"
}
serve() { # serve <root> <cfg> <url>: starts serve in the background, sets SERVE
  rm -f "$1/ready"
  ANTHROPIC_BASE_URL=$3 "$CAF_NODE" serve --root "$1" --config "$2" --ready-file "$1/ready" \
    2>>"$1/serve.log" &
  SERVE=$!
  PIDS+=("$SERVE")
  $AWAIT --timeout 30 "$1/ready" >/dev/null
}

# --- a park that ends by itself at the moment the API named ------------------
# spend_wait_s 0: any spend limit parks the worker (the run does not wait in
# a slot). The mock refuses with the 400 of a limit the user set, naming the
# next whole minute (as the API does), and answers again from then on.
park=$(fresh_root park)
start_mock "$park"
park_url=$MOCK_URL
config "$park/cfg.json" '{"spend_wait_s": 0}'
regain=$("$PY" -c 'import time; t = (int(time.time()) // 60 + 1) * 60; print(t if t - time.time() > 20 else t + 60)')
control "$park_url" "{\"mode\": \"spend-limit-400\", \"regain_at\": $regain}"
serve "$park" "$park/cfg.json" "$park_url"
PARK_SERVE=$SERVE
drop "$park" p1
$AWAIT --timeout 60 "$park/results/marie/p1.json"
check "a spend limit that names its end: the task fails spend_limit" json_is "$park/results/marie/p1.json" \
  "j['status'] == 'failed' and j['error']['kind'] == 'spend_limit'"
check "... and says when the worker runs again" json_is "$park/results/marie/p1.json" \
  "j.get('resumes_at_ms') == $regain * 1000"
parked_at=$("$PY" -c 'import time; print(time.time())')
drop "$park" p2
# (the day-cap part below runs meanwhile; p2 is checked after it)

# --- the day's cap, kept across restarts --------------------------------------
cap=$(fresh_root cap)
start_mock "$cap"
cap_url=$MOCK_URL
config "$cap/cfg.json" '{"spend_per_day_usd": 0.000001}'
serve "$cap" "$cap/cfg.json" "$cap_url"
drop "$cap" c1
$AWAIT --timeout 60 "$cap/results/marie/c1.json"
check "under the day's cap a task runs" json_is "$cap/results/marie/c1.json" \
  "j['status'] == 'complete' and j['cost_usd'] > 0.000001"
drop "$cap" c2
$AWAIT --timeout 30 "$cap/tasks/marie/.parked"
check "past the cap the next task is not run: it stays in tasks/" \
  bash -c "[ -e '$cap/tasks/marie/c2.json' ] && [ ! -e '$cap/results/marie/c2.json' ]"
check "... the worker is parked with spend_cap" grep -q '^not run: worker marie is parked after spend_cap' "$cap/tasks/marie/.parked"
check "... the mock saw c1's requests only" bash -c "! grep -q 'c2' '$cap/requests.jsonl'"
today=$(date -u +%F)
check "the day's spend is kept in spend/$today.json, equal to c1's cost" \
  "$PY" -c "import json,sys; d=json.load(open('$cap/spend/$today.json')); r=json.load(open('$cap/results/marie/c1.json'))
sys.exit(0 if d['runs'] == 1 and abs(d['usd'] - r['cost_usd']) < 1e-12 else 1)"
"$CAF_NODE" status --root "$cap" --config "$cap/cfg.json" --json >"$cap/status.json"
"$CAF_NODE" status --root "$cap" --config "$cap/cfg.json" >"$cap/status.txt"
check "status --json shows today's spend, the cap and until when it holds" json_is "$cap/status.json" \
  "j['spend_today']['runs'] == 1 and j['spend_today']['cap_usd'] == 0.000001 and j['spend_today']['capped_until'].endswith('T00:00:00.000Z')"
check "status says it in words" grep -q "the day's cap is reached: claude workers are parked (spend_cap) until" "$cap/status.txt"
kill -TERM "$SERVE"
await_exit "$SERVE"
check "serve stops cleanly" [ "$rc" -eq 0 ]
serve "$cap" "$cap/cfg.json" "$cap_url"
# The new serve starts unparked and learns the cap from the file.
$AWAIT --timeout 30 "$cap/tasks/marie/.parked"
check "after a restart the cap still holds: c2 waits, nothing more spent" \
  bash -c "[ -e '$cap/tasks/marie/c2.json' ] && [ ! -e '$cap/results/marie/c2.json' ] && ! grep -q c2 '$cap/requests.jsonl'"
kill -TERM "$SERVE"
await_exit "$SERVE"

# --- an approval: nothing reaches the API before the yes ---------------------
gate=$(fresh_root approve)
config "$gate/cfg.json" '{}'
sed -i 's/"max_attempts": 1}/"max_attempts": 1, "approve": true}/' "$gate/cfg.json"
serve "$gate" "$gate/cfg.json" "$cap_url"
drop "$gate" g1
$AWAIT --timeout 30 "$gate/tasks/marie/.awaiting/g1.json"
check "a task of a worker with approve waits, with its estimate" \
  json_is "$gate/tasks/marie/.awaiting/g1.json" "j['estimate'].startswith('estimate \$')"
check "... and the API saw nothing of it" bash -c "! grep -q '(g1)' '$cap/requests.jsonl'"
asked_at=$("$PY" -c 'import time; print(time.time())')
check "caf-node approve exits 0" "$CAF_NODE" approve g1 --root "$gate"
$AWAIT --timeout 60 "$gate/results/marie/g1.json"
check "approved, the real CLI runs it to complete" json_is "$gate/results/marie/g1.json" "j['status'] == 'complete'"
check "... its requests reached the API only after the yes" "$PY" -c "
import json, sys
mine = [json.loads(l) for l in open('$cap/requests.jsonl') if '(g1)' in l]
sys.exit(0 if mine and min(r['t'] for r in mine) >= $asked_at else 1)"
kill -TERM "$SERVE"
await_exit "$SERVE"

# --- Ctrl-C, then run --resume: only what had not completed runs again -------
res=$(fresh_root resume)
config "$res/cfg.json" '{}'
printf '{"name": "two", "tasks": [{"task_id": "r1", "worker": "marie", "description": "Evaluate Emma (r1)."}, {"task_id": "r2", "worker": "marie", "description": "Evaluate Lucas (r2).", "dependencies": ["r1"]}]}' >"$res/wf.json"
control "$cap_url" '{"mode": "ok"}'
ANTHROPIC_BASE_URL=$cap_url "$CAF_NODE" run "$res/wf.json" --root "$res" --config "$res/cfg.json" \
  >/dev/null 2>"$res/first.log" &
RUN=$!
PIDS+=("$RUN")
$AWAIT --timeout 60 "$res/results/marie/r1.json"
control "$cap_url" '{"mode": "hang"}' # r2's request now waits for ever
await_change 30 modify "$cap/requests.jsonl" grep -q '(r2)' "$cap/requests.jsonl"
kill -INT "$RUN"
await_exit "$RUN" 30
check "Ctrl-C stops the run while r2 runs (exit $rc)" [ "$rc" -ne 0 ]
control "$cap_url" '{"mode": "ok"}'
r1_done=$(jq -r .completed_at "$res/results/marie/r1.json")
run_id=$(basename "$(ls -d "$res"/runs/*/)")
resumed_at=$("$PY" -c 'import time; print(time.time())')
rc=0
ANTHROPIC_BASE_URL=$cap_url "$CAF_NODE" run --resume "$run_id" --root "$res" --config "$res/cfg.json" \
  >"$res/resumed.md" 2>"$res/resumed.log" || rc=$?
check "run --resume $run_id completes (exit $rc)" [ "$rc" -eq 0 ]
check "... r1 was not run again: its result stands" [ "$(jq -r .completed_at "$res/results/marie/r1.json")" = "$r1_done" ]
check "... only r2 reached the API again" "$PY" -c "
import json, sys
late = [json.loads(l) for l in open('$cap/requests.jsonl') if json.loads(l).get('t', 0) > $resumed_at]
sys.exit(0 if late and all('(r2)' in r.get('user', '') for r in late) else 1)"
check "... and r2 is complete" json_is "$res/results/marie/r2.json" "j['status'] == 'complete'"

# --- the day's cap on a worker node, through the node's gateway -------------
# The node's gateway settles each request's cost with the orchestrator's
# limiter (SETTLE cost_usd), which keeps the ledger and refuses the next run.
# (The gateway prices with troupe's table, the CLI with its own: within 1 %.)
nc=$(fresh_root node-cap)
config "$nc/cfg.json" '{"spend_per_day_usd": 0.000001}'
sed -i 's/"gateway": {"enabled": false}/"gateway": {"enabled": true}/' "$nc/cfg.json"
start_orchestrator "$nc" "$nc/cfg.json"
NC_ORCH=$ORCH
ANTHROPIC_BASE_URL=$cap_url "$CAF_NODE" worker marie --connect "$W_EP" \
  --root "$nc/node" --config "$nc/cfg.json" --ready-file "$nc/node.ready" 2>>"$nc/node.log" &
NC_NODE=$!
PIDS+=("$NC_NODE")
$AWAIT --timeout 30 "$nc/node.ready" >/dev/null
drop "$nc" n1
$AWAIT --timeout 60 "$nc/results/marie/n1.json"
check "on a worker node under the cap, a task runs through the node's gateway" bash -c "
  jq -e '.status == \"complete\" and .cost_usd > 0' '$nc/results/marie/n1.json' >/dev/null &&
  grep -q 'gateway: marie n1 POST /v1/messages.* -> 200' '$nc/node.log'"
drop "$nc" n2
$AWAIT --timeout 30 "$nc/tasks/marie/.parked"
check "... past the cap the next one waits in the orchestrator's tasks/, parked spend_cap" bash -c "
  [ -e '$nc/tasks/marie/n2.json' ] && [ ! -e '$nc/results/marie/n2.json' ] &&
  grep -q 'parked after spend_cap' '$nc/tasks/marie/.parked' && ! grep -q '(n2)' '$cap/requests.jsonl'"
check "... the orchestrator's ledger holds what the gateway settled, n1's cost" "$PY" -c "
import json, sys
d = json.load(open('$nc/spend/$today.json')); r = json.load(open('$nc/results/marie/n1.json'))
sys.exit(0 if d['usd'] > 0 and abs(d['usd'] - r['cost_usd']) <= 0.01 * r['cost_usd'] else 1)"
kill -TERM "$NC_NODE" "$NC_ORCH"
await_exit "$NC_ORCH"

# --- ... and the parked worker of the first part runs again -----------------
$AWAIT --timeout 100 "$park/results/marie/p2.json"
check "the task that waited runs when the limit ends, by itself" json_is "$park/results/marie/p2.json" \
  "j['status'] == 'complete' and j['attempt'] == 1"
check "... not before the moment the API named" "$PY" -c "
import json, sys
reqs = [json.loads(l) for l in open('$park/requests.jsonl')]
late = [r for r in reqs if r.get('t', 0) > $parked_at]
sys.exit(0 if late and min(r['t'] for r in late) >= $regain else 1)"
check "the serve log says when it runs again" grep -q "worker marie parked (spend_limit: .*); it runs again from" "$park/serve.log"
kill -TERM "$PARK_SERVE"
await_exit "$PARK_SERVE"
check "serve stops cleanly" [ "$rc" -eq 0 ]
finish

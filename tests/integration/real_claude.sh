#!/usr/bin/env bash
# The real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in
# tests/claude-cli/package.json) driven by caf-node against a local mock of
# the Messages API (tests/mock_api), via ANTHROPIC_BASE_URL.
source "$(dirname "$0")/lib.sh"
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
AWAIT="$PY $SRC/tests/integration/await_results.py"
if [ ! -x "$CLI" ]; then
  fail "the pinned Claude Code CLI is not installed ($CLI): run make test"
  finish
fi
check "the pinned CLI runs" "$CLI" --version

mock_dir=$(fresh_root mock)
"$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$mock_dir/port" --log "$mock_dir/requests.jsonl" &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null; at_exit' EXIT
$AWAIT --timeout 20 "$mock_dir/port"
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$mock_dir/port")"
export MARIE_KEY=sk-test-marie ANGA_KEY=sk-test-anga FABIEN_KEY=sk-test-fabien
mode() { # switches the mock's behaviour
  "$PY" -c "import urllib.request, sys; urllib.request.urlopen(urllib.request.Request(
    sys.argv[1] + '/_control', data=sys.argv[2].encode())).read()" "$ANTHROPIC_BASE_URL" "{\"mode\": \"$1\"}"
}

cfg="$mock_dir/cfg.json"
cat >"$cfg" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "api_key_env": "MARIE_KEY", "deadline_s": 60, "max_turns": 3},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "api_key_env": "ANGA_KEY", "deadline_s": 60, "max_turns": 3},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "api_key_env": "FABIEN_KEY", "deadline_s": 60, "max_turns": 3},
  "nokey": {"prompt": "$SRC/prompts/ANGA.md", "deadline_s": 60}},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON

# --- a workflow end to end ---------------------------------------------------
root=$(fresh_root sequential)
set +e
"$CAF_NODE" run "$SRC/workflows/sequential-workflow.json" --root "$root" --config "$cfg" >"$root/report.md" 2>"$root/err.log"
rc=$?
set -e
check "sequential workflow with the real CLI exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -20 "$root/err.log"
for t in marie/seq-choreo anga/seq-schedule-review fabien/seq-announce; do
  check "$t complete with the mock's answer" json_is "$root/results/$t.json" \
    'j["status"] == "complete" and j["summary"].startswith("Mock answer to: ") and j["findings"] == ["mock finding"]'
  check "$t has usage, cost, model and session from the CLI" json_is "$root/results/$t.json" \
    'j["usage"]["input_tokens"] > 0 and j["usage"]["output_tokens"] > 0 and j["cost_usd"] > 0 and j["model"].startswith("claude-sonnet-4-5") and len(j["session_id"]) > 10'
done
"$PY" - "$mock_dir/requests.jsonl" "$root" <<'PYEOF' >"$root/checks.txt"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if '"POST"' in l]
root = sys.argv[2]
def res(t): return json.load(open(f"{root}/results/{t}.json"))
by_key = {}
for r in reqs:
    by_key.setdefault(r["api_key"], []).append(r)
ok = lambda c, m: print(("ok " if c else "FAIL ") + m)
ok(set(by_key) == {"sk-test-marie", "sk-test-anga", "sk-test-fabien"}, "each worker called the API with its own key only")
ok(all("You are Anga" in json.dumps(r["system"]) for r in by_key["sk-test-anga"]), "anga's requests carry ANGA.md as system prompt")
ok(all("Marie" in json.dumps(r["system"]) for r in by_key["sk-test-marie"]), "marie's requests carry DANCE.md")
ok(any("Results of the tasks this one builds on" in r["user"] and "seq-choreo" in r["user"] for r in by_key["sk-test-fabien"]),
   "fabien's task text carries its dependencies' results")
ok(all(r["stream"] for r in reqs), "the CLI streams")
u = res("anga/seq-schedule-review")["usage"]
# The mock logs the metered input (plain + cache creation) and the reads.
ok(sum(r.get("input_tokens", 0) for r in by_key["sk-test-anga"]) == u["input_tokens"] + u["cache_creation_input_tokens"]
   and sum(r.get("cache_read_input_tokens", 0) for r in by_key["sk-test-anga"]) == u["cache_read_input_tokens"],
   "usage equals what the API reported (input, cache creation, cache reads)")
PYEOF
read_checks "$root/checks.txt"

# --- every fault mode ends as specified ---------------------------------------
one_task() { # one_task <name> <worker> [timeout_s]: runs a one-task workflow, echoes exit code
  local root=$WORK/fault-$1
  mkdir -p "$root"
  printf '{"name": "%s", "tasks": [{"task_id": "t", "worker": "%s", "description": "Evaluate Emma.", "max_attempts": 1%s}]}' \
    "$1" "$2" "${3:+, \"timeout_s\": $3}" >"$root/wf.json"
  set +e
  "$CAF_NODE" run "$root/wf.json" --root "$root" --config "$cfg" >/dev/null 2>"$root/err.log"
  echo $?
  set -e
}
for pair in 529:overloaded 500:server_error 401:auth spend-limit:spend_limit spend-limit-400:spend_limit; do
  m=${pair%%:*}; kind=${pair#*:}
  mode "$m"
  before=$(wc -l <"$mock_dir/requests.jsonl")
  rc=$(one_task "$m" marie)
  check "API $m: run exits 1" [ "$rc" -eq 1 ]
  check "API $m: failed with error.kind $kind" json_is "$WORK/fault-$m/results/marie/t.json" "j['status'] == 'failed' and j['error']['kind'] == '$kind'"
  case $kind in auth | spend_limit)
    check "API $m: one request reached the API for the attempt" \
      [ "$(tail -n +$((before + 1)) "$mock_dir/requests.jsonl" | wc -l)" -eq 1 ]
  esac
done
# The CLI sends a spend limit's 400 again by itself, five times; the gateway
# answers the repeats from what the API said, so the API sees one request.
check "API spend-limit-400: the gateway answered the CLI's repeats itself" \
  test "$(grep -c "gateway: marie t POST .* -> 400: answered again here, not sent" "$WORK/fault-spend-limit-400/err.log")" -ge 1
# So does a 401 with the CLI's own retries on (CLAUDE_CODE_MAX_RETRIES,
# 1 by default): once more each, without the gateway twice per attempt.
cfg_plain=$cfg
cfg=$WORK/cfg-cli-retries.json
jq 'del(.executors.claude.max_retries)' "$cfg_plain" >"$cfg"
mode 401
before=$(wc -l <"$mock_dir/requests.jsonl")
rc=$(one_task 401-retried marie)
check "API 401, the CLI retrying: failed auth, one request reached the API" bash -c "
  jq -e '.error.kind == \"auth\"' '$WORK/fault-401-retried/results/marie/t.json' >/dev/null &&
  [ \"\$(tail -n +$((before + 1)) '$mock_dir/requests.jsonl' | wc -l)\" -eq 1 ] &&
  grep -q 'gateway: marie t POST .* -> 401: answered again here, not sent' '$WORK/fault-401-retried/err.log'"
cfg=$cfg_plain
# A spend limit needs a person: the worker parks (not retried).
check "API spend-limit-400: the worker parks" grep -q "worker marie parked: spend_limit" "$WORK/fault-spend-limit-400/err.log"
# --- a spend limit that names its end: the worker waits for it, then runs -------
# The mock refuses with the 400 of a limit the user set, naming the next
# whole minute (as the API does) and answering again from then on. The
# worker parks the account until that moment and runs the task again then,
# at its first attempt; nobody is told it failed.
regain=$("$PY" -c 'import time; t = (int(time.time()) // 60 + 1) * 60; print(t if t - time.time() > 8 else t + 60)')
"$PY" -c "import urllib.request, sys; urllib.request.urlopen(urllib.request.Request(
  sys.argv[1] + '/_control', data=sys.argv[2].encode())).read()" "$ANTHROPIC_BASE_URL" \
  "{\"mode\": \"spend-limit-400\", \"regain_at\": $regain}"
rc=$(one_task regain marie)
mode ok
check "a spend limit with its end: the task completes (exit $rc)" [ "$rc" -eq 0 ]
check "... at its first attempt, after the moment the API named" json_is "$WORK/fault-regain/results/marie/t.json" \
  "j['status'] == 'complete' and j['attempt'] == 1 and j['completed_at'] >= __import__('time').strftime('%Y-%m-%dT%H:%M', __import__('time').gmtime($regain))"
check "... the log says the worker waits for it" grep -q "worker marie parked (spend_limit until .*: runs again then)" "$WORK/fault-regain/err.log"
mode ok
rc=$(one_task nokey nokey)
check "no key and no login: not_logged_in" json_is "$WORK/fault-nokey/results/nokey/t.json" "j['error']['kind'] == 'not_logged_in'"
check "... and the mock saw no request from it" bash -c "! grep -q '\"api_key\": \"\"' '$mock_dir/requests.jsonl'"
mode hang
start=$SECONDS
rc=$(one_task hang anga 3)
check "a hanging API: the CLI is killed at the deadline" json_is "$WORK/fault-hang/results/anga/t.json" "j['error']['kind'] == 'timeout'"
check "... within the deadline and grace" [ $((SECONDS - start)) -lt 20 ]
# The same hang, caught by silence long before the deadline: stream-json's
# events stop, and after stall_s the group is killed.
stall_cfg=$WORK/stall-cfg.json
sed 's/"max_retries": 0/"max_retries": 0, "stall_s": 2/' "$cfg" >"$stall_cfg"
start=$SECONDS
cfg_saved=$cfg; cfg=$stall_cfg
rc=$(one_task stall anga)
cfg=$cfg_saved
check "a hanging API with stall_s 2: stalled (deadline 60 s)" json_is "$WORK/fault-stall/results/anga/t.json" "j['error']['kind'] == 'stalled'"
check "... well before the deadline" [ $((SECONDS - start)) -lt 20 ]
mode ok

# --- a 429 mid-run: every worker waits the API's retry-after, then resumes -----
# The first request of the run is answered 429 with retry-after 6 s. The
# gateway holds every worker's requests until the 6 s are over, waits the
# 429 out and sends the request again: the CLI never sees it. (Without the
# cooldown the other workers' runs, about a second each, would reach the API
# throughout the quiet window checked below.)
RA=6
root=$(fresh_root cooldown)
sed 's/"max_retries": 0/"max_retries": 1/' "$cfg" >"$root/cfg.json"
"$PY" - "$root/wf.json" <<'PYEOF'
import json, sys
tasks = [{"task_id": f"{w}-{i}", "worker": w, "max_attempts": 1,
          "description": f"Task {i} for {w}: one sentence on the week."}
         for w in ("marie", "anga", "fabien") for i in range(4)]
json.dump({"name": "cooldown", "tasks": tasks}, open(sys.argv[1], "w"))
PYEOF
"$PY" -c "import urllib.request, sys; urllib.request.urlopen(urllib.request.Request(
  sys.argv[1] + '/_control', data=sys.argv[2].encode())).read()" "$ANTHROPIC_BASE_URL" \
  "{\"mode\": \"429\", \"times\": 1, \"retry_after_s\": $RA}"
since=$("$PY" -c 'import time; print(time.time())')
set +e
"$CAF_NODE" run "$root/wf.json" --root "$root" --config "$root/cfg.json" >/dev/null 2>"$root/err.log"
rc=$?
set -e
check "a 429 mid-run: the run still exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -20 "$root/err.log"
"$PY" - "$mock_dir/requests.jsonl" "$root" "$since" "$RA" <<'PYEOF' >"$root/checks.txt"
import glob, json, sys
log, root, since, ra = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
reqs = [r for r in map(json.loads, open(log)) if r["method"] == "POST" and r["t"] >= since]
ok = lambda c, m: print(("ok " if c else "FAIL ") + m)
hits = [r for r in reqs if r["status"] == 429]
ok(len(hits) == 1, f"the mock answered exactly one 429 ({len(hits)})")
t429 = hits[0]["t"] if hits else 0
# A run granted in the instant before the cooldown began may still reach the
# API about one CLI start-up later; from then until the retry-after is over
# nothing may arrive.
quiet = [r for r in reqs if t429 + 2.5 < r["t"] < t429 + ra - 0.2]
ok(not quiet, f"no request between 2.5 s after the 429 and its retry-after ({len(quiet)})")
after = [r for r in reqs if r["t"] >= t429 + ra - 0.2]
ok(len(after) >= 4, f"work resumed after the retry-after ({len(after)} requests)")
results = [json.load(open(f)) for f in glob.glob(root + "/results/*/*.json")]
ok(len(results) == 12 and all(r["status"] == "complete" and r["attempt"] == 1 for r in results),
   "all 12 tasks complete at their first attempt")
ok(not any(r.get("api_retries") for r in results), "no CLI saw the 429 (none retried)")
waited = [l for l in open(root + "/err.log") if "1 x 429 waited out" in l]
ok(len(waited) == 1, f"the gateway waited the 429 out once, for one task ({len(waited)})")
events = [json.loads(l) for f in glob.glob(root + "/runs/*/events.jsonl") for l in open(f)]
ok(any("api_retry" in (e.get("event"), e.get("kind")) and "gateway" in e.get("detail", "") for e in events),
   "events.jsonl has the task's api_retry event, waited out at the gateway")
PYEOF
read_checks "$root/checks.txt"

# --- a subscription window: every worker parks until its reset, then resumes ---
# The mock's 5-hour window rejects the account for WIN s from the first
# request (429, anthropic-ratelimit-unified-status rejected, its reset).
# The gateway parks the account until that reset: every worker's requests
# are held there, and no run starts; `caf-node status` says until when.
# At the reset the held requests go out, and every task completes at its
# first attempt.
WIN=5
root=$(fresh_root window)
mkdir -p "$root/tasks" # where the park is written, watched from the start
"$PY" - "$root/wf.json" <<'PYEOF'
import json, sys
tasks = [{"task_id": f"{w}-{i}", "worker": w, "max_attempts": 1,
          "description": f"Task {i} for {w}: one sentence on the week."}
         for w in ("marie", "anga", "fabien") for i in range(3)]
json.dump({"name": "window", "tasks": tasks}, open(sys.argv[1], "w"))
PYEOF
"$PY" -c "import urllib.request, sys; urllib.request.urlopen(urllib.request.Request(
  sys.argv[1] + '/_control', data=sys.argv[2].encode())).read()" "$ANTHROPIC_BASE_URL" \
  "{\"mode\": \"window\", \"window_s\": $WIN, \"window_reset\": 0}"
since=$("$PY" -c 'import time; print(time.time())')
set +e
"$CAF_NODE" run "$root/wf.json" --root "$root" --config "$cfg" >/dev/null 2>"$root/err.log" &
run_pid=$!
$AWAIT --timeout 30 "$root/tasks/.account-parked"
"$CAF_NODE" status --root "$root" --config "$cfg" >"$root/status.txt" 2>&1
wait $run_pid
rc=$?
set -e
check "a rejecting window: the run still exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -20 "$root/err.log"
check "... status shows the account parked until the window's reset" \
  grep -q "the account is parked: five_hour window, resets .* (in [0-9]* s); no run starts until then" "$root/status.txt"
check "... the log says so" grep -q "gateway: the account is parked: five_hour window" "$root/err.log"
"$PY" - "$mock_dir/requests.jsonl" "$root" "$since" "$ANTHROPIC_BASE_URL" <<'PYEOF' >"$root/checks.txt"
import glob, json, sys, urllib.request
log, root, since = sys.argv[1], sys.argv[2], float(sys.argv[3])
state = json.loads(urllib.request.urlopen(urllib.request.Request(sys.argv[4] + "/_control", data=b"{}")).read())
reset = state["window_reset"]
reqs = [r for r in map(json.loads, open(log)) if r["method"] == "POST" and r["t"] >= since]
ok = lambda c, m: print(("ok " if c else "FAIL ") + m)
rejected = [r for r in reqs if r["status"] == 429]
ok(rejected and all(r["t"] < reset for r in rejected), f"the window rejected {len(rejected)} request(s), all before its reset")
first = min(r["t"] for r in rejected) if rejected else 0
# Requests already on their way when the first rejection came may still
# arrive; from a second after it until the reset nothing may.
quiet = [r for r in reqs if first + 1 < r["t"] < reset]
ok(not quiet, f"no request reached the API while the account was parked ({len(quiet)})")
after = [r for r in reqs if r["t"] >= reset and r["status"] == 200]
ok(len(after) >= 9, f"work resumed at the reset ({len(after)} requests)")
results = [json.load(open(f)) for f in glob.glob(root + "/results/*/*.json")]
ok(len(results) == 9 and all(r["status"] == "complete" and r["attempt"] == 1 for r in results),
   "all 9 tasks complete at their first attempt")
ok(not any(r.get("api_retries") for r in results), "no CLI saw the rejection")
PYEOF
read_checks "$root/checks.txt"

# --- a task's budget holds request by request at the gateway --------------------
# A task scripted to take 40 tool-use turns, with a budget that pays for
# about a third of them. The gateway prices each request before it lets it
# through (its uncached input at the cache-write rate, the model's usual
# answer) and books what the response really cost: the request that would
# pass the budget is refused, the CLI ends, and the task fails `budget`.
root=$(fresh_root budget)
BUDGET=0.15
sed 's/"max_turns": 3}/"max_turns": 60}/' "$cfg" >"$root/cfg.json"
"$PY" - "$root/wf.json" "$BUDGET" <<'PYEOF'
import json, sys
steps = [{"tool": "Glob", "input": {"pattern": "*"}}] * 40
json.dump({"name": "budget", "tasks": [{
    "task_id": "capped", "worker": "marie", "max_attempts": 1, "budget_usd": float(sys.argv[2]),
    "description": "List the files, forty times.\nmock-script: " + json.dumps(steps)}]},
    open(sys.argv[1], "w"))
PYEOF
since=$("$PY" -c 'import time; print(time.time())')
set +e
"$CAF_NODE" run "$root/wf.json" --root "$root" --config "$root/cfg.json" >/dev/null 2>"$root/err.log"
rc=$?
set -e
check "a task past its budget: the run exits 1" [ "$rc" -eq 1 ]
check "... the task failed budget, refused by the gateway" json_is "$root/results/marie/capped.json" \
  "j['status'] == 'failed' and j['error']['kind'] == 'budget' and 'troupe_budget_exceeded' in j['error']['message']"
"$PY" - "$mock_dir/requests.jsonl" "$since" "$root" "$BUDGET" <<'PYEOF' >"$root/checks.txt"
import json, sys
reqs = [r for r in map(json.loads, open(sys.argv[1]))
        if r["method"] == "POST" and r["t"] >= float(sys.argv[2]) and r.get("status") == 200]
result = json.load(open(sys.argv[3] + "/results/marie/capped.json"))
budget = float(sys.argv[4])
ok = lambda c, m: print(("ok " if c else "FAIL ") + m)
# The API's list prices of the mock's model (USD per million tokens).
price = {"in": 3, "out": 15, "write": 3.75, "read": 0.3}
def cost(r):
    plain = r["input_tokens"] - r["cache_creation_input_tokens"]
    return (plain * price["in"] + r["cache_creation_input_tokens"] * price["write"]
            + r["cache_read_input_tokens"] * price["read"] + r["output_tokens"] * price["out"]) / 1e6
costs = [cost(r) for r in reqs]
spent = sum(costs)
turns = sum(1 for r in reqs if r.get("tool_use"))
ok(0 < turns < 40, f"the script was cut short: {turns} of 40 tool turns reached the API")
ok(spent > budget / 2, f"the budget was used: ${spent:.4f} of ${budget}")
ok(sum(costs[:-1]) <= budget, "before the last response the task was within its budget")
ok(spent <= budget + max(costs), f"it overshot by at most one response (${spent - budget:+.4f}, largest ${max(costs):.4f})")
ok(abs(result["cost_usd"] - spent) < 1e-6, f"the result's cost is what the API metered (${result['cost_usd']:.4f})")
PYEOF
read_checks "$root/checks.txt"
grep -m1 "refused: troupe_budget_exceeded" "$root/err.log" | sed 's/^.*refused: /  measured: /'

# --- a plain-language request: plan -> run -> synthesis --------------------------
root=$(fresh_root request)
cat >"$root/cfg.json" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "role": "Dance teacher's assistant", "api_key_env": "MARIE_KEY", "deadline_s": 60, "max_turns": 3},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "role": "Marketing lead", "api_key_env": "FABIEN_KEY", "deadline_s": 60, "max_turns": 3}},
 "orchestrator": {"prompt": "$SRC/prompts/orchestrator.md", "api_key_env": "ORCH_KEY", "deadline_s": 60},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON
since=$("$PY" -c 'import time; print(time.time())')
set +e
ORCH_KEY=sk-test-orch "$CAF_NODE" run "Evaluate Emma and announce the showcase" --root "$root" \
  --config "$root/cfg.json" >"$root/out.md" 2>"$root/err.log"
rc=$?
set -e
check "request with the real CLI: exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -20 "$root/err.log"
check "... the planned tasks ran on their workers" bash -c \
  "[ -f '$root/results/fabien/part-1.json' ] && [ -f '$root/results/marie/part-2.json' ]"
check "... the answer leads the report" bash -c "head -1 '$root/out.md' | grep -qx '# Mock synthesis'"
"$PY" - "$mock_dir/requests.jsonl" "$since" "$root" <<'PYEOF' >"$root/checks.txt"
import json, sys
reqs = [r for r in map(json.loads, open(sys.argv[1])) if r["method"] == "POST" and r["t"] >= float(sys.argv[2])]
ok = lambda c, m: print(("ok " if c else "FAIL ") + m)
orch = [r for r in reqs if r["api_key"] == "sk-test-orch"]
ok(len(orch) == 2 and orch[0]["user"].startswith("# Plan request") and orch[1]["user"].startswith("# Synthesis request"),
   "the orchestrator made two requests with its own key: the plan, then the answer")
ok(all("Orchestrator" in json.dumps(r["system"]) and r["tools"] == 0 for r in orch),
   "... with orchestrator.md as system prompt and no tools")
ok("- part-1 (fabien): complete" in open(sys.argv[3] + "/out.md").read() and "Mock answer to: Part 1" in orch[1]["user"],
   "the synthesis was written from the workers' results")
workers = [r for r in reqs if r["api_key"] in ("sk-test-marie", "sk-test-fabien")]
ok(orch[0]["t"] < min(r["t"] for r in workers) and orch[1]["t"] > max(r["t"] for r in workers),
   "plan before every worker request, answer after them")
PYEOF
read_checks "$root/checks.txt"

# The same request under a budget for the whole run: planning is booked
# first, the tasks share what it left, the answer gets what they left.
B=0.08
since=$("$PY" -c 'import time; print(time.time())')
set +e
ORCH_KEY=sk-test-orch "$CAF_NODE" run "Evaluate Emma and announce the showcase" --root "$root" \
  --config "$root/cfg.json" --budget-usd $B --fresh >"$root/budget.md" 2>"$root/budget.log"
rc=$?
set -e
check "request with --budget-usd $B: exits 1 (a task could not fit)" [ "$rc" -eq 1 ]
check "... the answer is still written, and its cost reported" \
  bash -c "head -1 '$root/budget.md' | grep -qx '# Mock synthesis' && grep -q \"The orchestrator's own calls (planning, the answer) cost\" '$root/budget.md'"
"$PY" - "$mock_dir/requests.jsonl" "$since" "$root" "$B" <<'PYEOF' >"$root/checks.txt"
import glob, json, re, sys
reqs = [r for r in map(json.loads, open(sys.argv[1]))
        if r["method"] == "POST" and r["t"] >= float(sys.argv[2]) and r.get("status") == 200]
budget = float(sys.argv[4])
ok = lambda c, m: print(("ok " if c else "FAIL ") + m)
def cost(r):  # the mock's model at list price, USD per million tokens
    plain = r["input_tokens"] - r["cache_creation_input_tokens"]
    return (plain * 3 + r["cache_creation_input_tokens"] * 3.75 + r["cache_read_input_tokens"] * 0.3
            + r["output_tokens"] * 15) / 1e6
spent = sum(map(cost, reqs))
plan = sum(cost(r) for r in reqs if r["api_key"] == "sk-test-orch" and r["user"].startswith("# Plan request"))
ok(spent <= budget, f"the whole run spent ${spent:.4f} of ${budget}")
msgs = [json.load(open(f)).get("error", {}).get("message", "") for f in glob.glob(sys.argv[3] + "/results/*/part-*.json")]
shares = [float(m) for x in msgs for m in re.findall(r"of its \$([0-9.]+) budget", x)]
want = (budget - plan) / 2
ok(shares and all(abs(s - want) < 1e-4 for s in shares),
   f"the first task was given half of what planning (${plan:.4f}) left: ${want:.4f} ({shares})")
PYEOF
read_checks "$root/checks.txt"
since=$("$PY" -c 'import time; print(time.time())')
set +e
ORCH_KEY=sk-test-orch "$CAF_NODE" run "Evaluate Emma and announce the showcase" --root "$root" \
  --config "$root/cfg.json" --budget-usd 0.001 >/dev/null 2>"$root/tiny.log"
rc=$?
set -e
check "a budget below one planning call: exits 1, nothing planned" \
  bash -c "[ $rc -eq 1 ] && grep -q 'troupe_budget_exceeded' '$root/tiny.log'"
check "... and nothing reached the API" "$PY" -c 'import json, sys
sys.exit(any(r["method"] == "POST" and r["t"] >= float(sys.argv[2]) for r in map(json.loads, open(sys.argv[1]))))' \
  "$mock_dir/requests.jsonl" "$since"

# --- record, then replay with the API out of reach -----------------------------
# A plain-language request (plan, three tasks, synthesis) runs against the
# mock with --record. Replayed into a fresh root with the upstream out of
# reach (a closed port), it must give the same results and report: every
# request is answered from the recording. Then a workflow recorded the
# same way is replayed with one task's prompt changed: only that task and
# the one that builds on it reach the API.
rec=$(fresh_root recording)
cat >"$rec/cfg.json" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "role": "Dance teacher's assistant", "api_key_env": "MARIE_KEY", "deadline_s": 60, "max_turns": 3},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "role": "Code reviewer", "api_key_env": "ANGA_KEY", "deadline_s": 60, "max_turns": 3},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "role": "Marketing lead", "api_key_env": "FABIEN_KEY", "deadline_s": 60, "max_turns": 3}},
 "orchestrator": {"prompt": "$SRC/prompts/orchestrator.md", "api_key_env": "ORCH_KEY", "deadline_s": 60},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON
closed_port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
replay_pair() { # replay_pair <name> <target>: records into $rec/<name>-a, replays into <name>-b
  local a=$rec/$1-a b=$rec/$1-b
  mkdir -p "$a" "$b"
  set +e
  ORCH_KEY=sk-test-orch "$CAF_NODE" run "$2" --root "$a" --config "$rec/cfg.json" \
    --record "$rec/$1.rec" >"$a/out.md" 2>"$a/err.log"
  local rc_a=$?
  ORCH_KEY=sk-test-orch ANTHROPIC_BASE_URL="http://127.0.0.1:$closed_port" "$CAF_NODE" run "$2" \
    --root "$b" --config "$rec/cfg.json" --replay "$rec/$1.rec" >"$b/out.md" 2>"$b/err.log"
  local rc_b=$?
  set -e
  check "$1: recorded run exits 0" [ "$rc_a" -eq 0 ]
  check "$1: replayed run, the API out of reach, exits 0" [ "$rc_b" -eq 0 ]
  [ "$rc_b" -eq 0 ] || tail -5 "$b/err.log"
}
same_work() { # same_work <name>: results and report equal but for times and ids
  "$PY" - "$rec/$1-a" "$rec/$1-b" <<'PYEOF'
import glob, json, os, re, sys
a, b = sys.argv[1], sys.argv[2]
# What differs between two runs of the same work: when, how long, which run
# and which CLI session.
VOLATILE = {"started_at", "completed_at", "duration_ms", "session_id", "run_id"}
def results(root):
    out = {}
    for f in sorted(glob.glob(root + "/results/*/*.json")):
        out[os.path.relpath(f, root)] = {k: v for k, v in json.load(open(f)).items() if k not in VOLATILE}
    return out
def report(root):
    text = open(root + "/out.md").read()
    text = re.sub(r"\d{8}T\d{6}Z-[0-9a-f]{4}", "<run>", text)
    return re.sub(r"\b\d+(\.\d+)? (ms|s)\b", "<time>", text)
ra, rb = results(a), results(b)
ok = ra == rb and len(ra) > 0
print(("ok " if ok else "FAIL ") + f"the replay's {len(rb)} results equal the recorded run's")
if not ok:
    for k in sorted(set(ra) | set(rb)):
        if ra.get(k) != rb.get(k):
            print("FAIL   differs: " + k)
print(("ok " if report(a) == report(b) else "FAIL ") + "its report equals the recorded run's (times and run id aside)")
PYEOF
}
replay_pair request "Evaluate Emma and announce the showcase"
same_work request >"$rec/checks.txt"
replayed=$(grep -c "from the recording" "$rec/request-b/err.log" || true)
recorded=$(ls "$rec/request.rec" | wc -l)
check "request: all $recorded recorded requests answered from the recording ($replayed)" \
  [ "$replayed" -ge "$recorded" -a "$recorded" -ge 5 ]
check "request: the plan and the answer came from the recording too" \
  bash -c "[ \$(ls '$rec'/request-b/results/*/part-*.json | wc -l) -ge 2 ] && head -1 '$rec/request-b/out.md' | grep -qx '# Mock synthesis'"
check "request: nothing went upstream" bash -c "! grep -q 'not in the recording' '$rec/request-b/err.log'"
check "no key is in the recording" bash -c "! grep -rq 'sk-test-' '$rec/request.rec'"
check "... nor in a log" bash -c "! grep -q 'sk-test-' '$rec/request-a/err.log' '$rec/request-b/err.log'"
check "... though the requests carried it (redacted)" grep -rq '"x-api-key": "\[redacted\]"' "$rec/request.rec"
read_checks "$rec/checks.txt"
# One prompt changed: seq-schedule-review's, which seq-announce builds on.
replay_pair seq "$SRC/workflows/sequential-workflow.json"
"$PY" - "$SRC/workflows/sequential-workflow.json" "$rec/seq-changed.json" <<'PYEOF'
import json, sys
wf = json.load(open(sys.argv[1]))
for t in wf["tasks"]:
    if t["task_id"] == "seq-schedule-review":
        # Its first line changes: so does the mock's answer, which
        # seq-announce is given.
        t["description"] = "Before anything else, list the late rehearsals. " + t["description"]
json.dump(wf, open(sys.argv[2], "w"))
PYEOF
mkdir -p "$rec/seq-c"
since=$("$PY" -c 'import time; print(time.time())')
set +e
ORCH_KEY=sk-test-orch "$CAF_NODE" run "$rec/seq-changed.json" --root "$rec/seq-c" --config "$rec/cfg.json" \
  --replay "$rec/seq.rec" >"$rec/seq-c/out.md" 2>"$rec/seq-c/err.log"
rc=$?
set -e
check "one prompt changed: the replay exits 0" [ "$rc" -eq 0 ]
"$PY" - "$mock_dir/requests.jsonl" "$since" <<'PYEOF' >"$rec/checks.txt"
import json, sys
reqs = [r for r in map(json.loads, open(sys.argv[1])) if r["method"] == "POST" and r["t"] >= float(sys.argv[2])]
keys = sorted({r["api_key"] for r in reqs})
ok = keys == ["sk-test-anga", "sk-test-fabien", "sk-test-orch"]
print(("ok " if ok else "FAIL ") + "only the changed task, the one built on it and the answer written "
      f"from them went to the API ({', '.join(keys)})")
PYEOF
read_checks "$rec/checks.txt"
check "... marie's came from the recording" grep -q "gateway: marie seq-choreo .* from the recording" "$rec/seq-c/err.log"

# --- the auth home read-only, as docker-compose.yml mounts it -------------------
root=$(fresh_root readonly)
mkdir -p "$root/auth-homes/marie/.claude"
printf '{"name": "ro", "tasks": [{"task_id": "ro-1", "worker": "marie", "description": "Say hi."}]}' >"$root/wf.json"
UNSHARE=(unshare -m)
[ "$(id -u)" -eq 0 ] || UNSHARE=(sudo -n -E unshare -m)
set +e
"${UNSHARE[@]}" sh -c 'mount --bind -o ro "$1/auth-homes/marie" "$1/auth-homes/marie" &&
  touch "$1/auth-homes/marie/.claude/probe" 2>/dev/null && exit 9
  exec "$2" run "$1/wf.json" --root "$1" --config "$3"' sh "$root" "$CAF_NODE" "$cfg" >/dev/null 2>"$root/err.log"
rc=$?
set -e
check "with its auth home mounted read-only the CLI still runs the task" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -5 "$root/err.log"
check "... complete with the mock's answer" json_is "$root/results/marie/ro-1.json" \
  "j['status'] == 'complete' and j['summary'].startswith('Mock answer to: ')"

finish

#!/usr/bin/env bash
# Two orchestrators, one account: two serves on one Redis queue share the
# rate limiter's buckets (docs/QUEUE.md, "Shared limits"). 3 x TASKS tasks
# (8; more with TASKS=) dropped half into each root go through the real
# Claude Code CLI against the mock API, whose input-tokens-per-minute limit
# (ITPM, 60,000) binds for the two together. Each run is two requests (a
# tool's turn, then the answer), each held at its orchestrator's gateway.
# Both orchestrators must run requests, none may be answered 429, and
# together they must use most of what the limit allows.
source "$(dirname "$0")/lib.sh"
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
AWAIT="$PY $SRC/tests/integration/await_results.py"
[ -x "$CLI" ] || { fail "the pinned Claude Code CLI is not installed: run make test"; finish; }
ITPM=${ITPM:-60000}
TASKS=${TASKS:-8}; export TASKS

dir=$(fresh_root shared-limits)
"$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$dir/mock.port" --log "$dir/requests.jsonl" \
  --itpm "$ITPM" &
PIDS+=("$!")
$AWAIT --timeout 20 "$dir/mock.port"
start_redis "$dir"
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$dir/mock.port")"
export MARIE_KEY=sk-test-marie ANGA_KEY=sk-test-anga FABIEN_KEY=sk-test-fabien

cat >"$dir/cfg.json" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "api_key_env": "MARIE_KEY", "slots": 3, "max_turns": 3},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "api_key_env": "ANGA_KEY", "slots": 3, "max_turns": 3},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "api_key_env": "FABIEN_KEY", "slots": 3, "max_turns": 3}},
 "limits": {"input_tokens_per_min": $ITPM},
 "gateway": {"enabled": true},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON
for n in a b; do
  mkdir -p "$dir/$n"
  "$CAF_NODE" serve --root "$dir/$n" --config "$dir/cfg.json" --queue "redis://127.0.0.1:$REDIS_PORT" \
    --ready-file "$dir/$n/ready" 2>"$dir/$n/serve.log" &
  PIDS+=("$!")
done
$AWAIT --timeout 30 "$dir/a/ready" "$dir/b/ready" >/dev/null
# Half the tasks into each root: each imports its own into the queue, and
# either orchestrator may run any of them.
"$PY" - "$dir" >"$dir/expected" <<'PYEOF'
import json, os, sys
steps = '[{"tool": "Glob", "input": {"pattern": "*"}}]'
n = int(os.environ["TASKS"])
for w in ("marie", "anga", "fabien"):
    for i in range(n):
        root = f"{sys.argv[1]}/{'ab'[i % 2]}"
        t = {"task_id": f"{w}-{i:02d}", "worker": w, "max_attempts": 1,
             "description": f"Task {i} for {w}: summarise the week in two sentences.\nmock-script: {steps}"}
        path = f"{root}/tasks/{w}/{t['task_id']}.json"
        with open(path + ".tmp", "w") as f:
            json.dump(t, f)
        os.rename(path + ".tmp", path)
        # Its result comes back to the root that imported it (a root also
        # keeps those of the tasks it ran).
        print(f"{root}/results/{w}/{t['task_id']}.json")
PYEOF
# shellcheck disable=SC2046 # one path a line, no spaces
$AWAIT --timeout 600 $(cat "$dir/expected") >/dev/null
check "3 x $TASKS tasks through two orchestrators and one binding limit: all complete" \
  [ "$(cat $(cat "$dir/expected") | jq -s 'map(select(.status == "complete")) | length')" -eq $((3 * TASKS)) ]
ran_a=$(grep -c 'gateway: .* POST /v1/messages' "$dir/a/serve.log" || true)
ran_b=$(grep -c 'gateway: .* POST /v1/messages' "$dir/b/serve.log" || true)
check "both orchestrators sent requests ($ran_a and $ran_b), every one through a gateway" \
  bash -c "[ $ran_a -gt 0 ] && [ $ran_b -gt 0 ] && [ $((ran_a + ran_b)) -eq $((6 * TASKS)) ]"
check "no key is in the nodes' logs or results" \
  bash -c "! grep -rl 'sk-test-' '$dir/a' '$dir/b'"
check "the buckets live in Redis, under the queue's prefix" \
  bash -c "redis-cli -p $REDIS_PORT --scan --pattern 'troupe:meter:*' | grep -q 'troupe:meter:global:'"
"$PY" "$SRC/tests/integration/limit_verdict.py" "$dir/requests.jsonl" "$ITPM" >"$dir/verdict.txt"
read -r n_ok n429 used span util _ <"$dir/verdict.txt"
echo "# $n_ok requests from two orchestrators, $n429 answered 429, $used input tokens in ${span}s: utilisation $util of the binding limit"
check "every task reached the API twice" [ "$n_ok" -eq $((6 * TASKS)) ]
check "no request was answered 429" [ "$n429" -eq 0 ]
check "the limit binds (the run outlasts the first minute's burst)" "$PY" -c "import sys; sys.exit(0 if $used > $ITPM else 1)"
check "at least 90 % of the binding limit is used by the two together" \
  "$PY" -c "import sys; sys.exit(0 if $util >= 0.90 else 1)"
finish

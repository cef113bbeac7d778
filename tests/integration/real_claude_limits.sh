#!/usr/bin/env bash
# Three workers share one account: 3 x TASKS tasks (8; 30 for the long
# run) through the real Claude Code CLI against the mock API, whose
# input-tokens-per-minute limit (ITPM, 60,000) binds. Each
# task uses a tool, so each run is two requests, and the mock's prompt
# cache makes the first runs cold (about 15k tokens: the tool schemas,
# shared by all workers, are created) and the others warm (about 6k). The limiter must keep every request within the
# limit (0 answered 429) while using at least 95 % of what it allows.
source "$(dirname "$0")/lib.sh"
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
AWAIT="$PY $SRC/tests/integration/await_results.py"
[ -x "$CLI" ] || { fail "the pinned Claude Code CLI is not installed: run make test"; finish; }
ITPM=${ITPM:-60000}
TASKS=${TASKS:-8}; export TASKS
# GATEWAY=true: every request is held at the gateway, on its own figures;
# else each run takes one permit, on its worker's averages.
GATEWAY=${GATEWAY:-true}

mock_dir=$(fresh_root mock)
"$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$mock_dir/port" --log "$mock_dir/requests.jsonl" \
  --itpm "$ITPM" &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null; at_exit' EXIT
$AWAIT --timeout 20 "$mock_dir/port"
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$mock_dir/port")"
export MARIE_KEY=sk-test-marie ANGA_KEY=sk-test-anga FABIEN_KEY=sk-test-fabien

root=$(fresh_root limits)
cat >"$root/cfg.json" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "api_key_env": "MARIE_KEY", "slots": 3, "max_turns": 3},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "api_key_env": "ANGA_KEY", "slots": 3, "max_turns": 3},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "api_key_env": "FABIEN_KEY", "slots": 3, "max_turns": 3}},
 "limits": {"input_tokens_per_min": $ITPM},
 "gateway": {"enabled": $GATEWAY},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON
"$PY" - "$root/wf.json" <<'PYEOF'
import json, sys
import os
# The mock answers the first request with a Glob (a read-only tool the CLI
# runs without asking), the second with the report.
steps = '[{"tool": "Glob", "input": {"pattern": "*"}}]'
tasks = [{"task_id": f"{w}-{i:02d}", "worker": w, "max_attempts": 1,
          "description": f"Task {i} for {w}: summarise the week in two sentences.\nmock-script: {steps}"}
         for w in ("marie", "anga", "fabien") for i in range(int(os.environ["TASKS"]))]
json.dump({"name": "limits", "tasks": tasks}, open(sys.argv[1], "w"))
PYEOF
set +e
"$CAF_NODE" run "$root/wf.json" --root "$root" --config "$root/cfg.json" >/dev/null 2>"$root/err.log"
rc=$?
set -e
check "3 x $TASKS tasks through one binding limit: all complete" [ "$rc" -eq 0 ]
# Every request carried a worker's key through the gateway: none may be kept.
check "no key is in the node's log, the results or the run's records" \
  bash -c "! grep -rl 'sk-test-' '$root/err.log' '$root/results' '$root/runs'"
if [ "$GATEWAY" = true ]; then
  check "every request went through the gateway" \
    [ "$(grep -c 'gateway: .* POST /v1/messages' "$root/err.log")" -eq $((6 * TASKS)) ]
fi
"$PY" "$SRC/tests/integration/limit_verdict.py" "$mock_dir/requests.jsonl" "$ITPM" >"$root/verdict.txt"
[ -n "${KEEP_LOG:-}" ] && cp "$mock_dir/requests.jsonl" "$KEEP_LOG"
read -r n_ok n429 used span util cold <"$root/verdict.txt"
echo "# $n_ok requests ($cold cold), $n429 answered 429, $used input tokens in ${span}s: utilisation $util of the binding limit"
check "the first runs were cold (at most one a slot), the others warm" "$PY" -c "import sys; sys.exit(0 if 1 <= $cold <= 9 else 1)"
check "every task reached the API twice (its tool's turn, then its answer)" [ "$n_ok" -eq $((6 * $TASKS)) ]
check "no request was answered 429" [ "$n429" -eq 0 ]
check "the limit binds (the run outlasts the first minute's burst)" "$PY" -c "import sys; sys.exit(0 if $used > $ITPM else 1)"
check "at least 95 % of the binding limit is used" "$PY" -c "import sys; sys.exit(0 if $util >= 0.95 else 1)"
finish

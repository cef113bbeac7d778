#!/usr/bin/env bash
# The scripts in scripts/ against a real `caf-node serve` (fake claude CLI).
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
S="$SRC/scripts"
root=$(fresh_root scripts)
export TROUPE_ROOT=$root TROUPE_TIMEOUT=60

run_rc() { # run_rc <want rc> <description> command...
  local want=$1 what=$2; shift 2
  set +e
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  set -e
  if [ "$rc" -eq "$want" ]; then pass "$what (exit $rc)"; else
    fail "$what: exit $rc, want $want: $(tail -c 400 "$WORK/err")"; fi
}

for s in create-evaluation evaluate-student marie-add-student generate-batch-workflow batch-evaluate test-agent-introduction cli-test; do
  run_rc 0 "$s.sh --help" "$S/$s.sh" --help
  check "$s.sh --help prints usage" grep -q "usage:" "$WORK/out"
done

# No node running: waiting ends with the timeout code, and says why.
mkdir -p "$root/tasks/marie" "$root/results/marie"
run_rc 3 "no serve: create-evaluation times out" "$S/create-evaluation.sh" "Nobody" --timeout 1
check "... and says why" grep -q "is 'caf-node serve' running" "$WORK/err"
rm -f "$root/tasks/marie/"*.json

PATH="$SRC/tests/fake:$PATH" "$CAF_NODE" serve --root "$root" --config "$SRC/config/troupe.json" \
  --ready-file "$root/ready" 2>"$root/serve.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; at_exit' EXIT
$AWAIT --timeout 30 "$root/ready"

run_rc 0 "create-evaluation" "$S/create-evaluation.sh" "Emma Rodríguez" --date 2025-11-17 --notes 'bounce "régulier"; rock $(raide)'
check "... its result names the student's task" test -f "$root/results/marie/eval-emma-rodriguez-2025-11-17.json"
check "... the notes reached the agent verbatim" bash -c "grep -rqF 'rock \$(raide)' '$root/auth-homes/marie/.claude/fake-calls'"
run_rc 2 "create-evaluation rejects a bad date" "$S/create-evaluation.sh" "Emma" --date 17/11/2025
run_rc 2 "create-evaluation rejects a name without letters" "$S/create-evaluation.sh" "!!!"

printf '{"name": "Noah Benali", "type": "breaking", "notes": "FAKE_CLAUDE:max-turns"}' >"$WORK/noah.json"
run_rc 1 "evaluate-student reports a failed evaluation" "$S/evaluate-student.sh" "$WORK/noah.json"
check "... with the error kind" grep -q "error: max_turns" "$WORK/out"
printf '{"type": "hip-hop"}' >"$WORK/noname.json"
run_rc 2 "evaluate-student refuses a record without a name" "$S/evaluate-student.sh" "$WORK/noname.json"
: >"$WORK/empty.json"
run_rc 2 "evaluate-student refuses an empty record file" "$S/evaluate-student.sh" "$WORK/empty.json"
printf '{"name": "Inès Moreau", "notes": "ready for the advanced group"}' >"$WORK/ines.json"
run_rc 0 "evaluate-student" "$S/evaluate-student.sh" "$WORK/ines.json"

run_rc 0 "marie-add-student" "$S/marie-add-student.sh" "Léa Martin" --age 14 --level beginner --goals "danser au gala"
check "... context carries the level" bash -c "grep -rq 'declared_level.*d.*butant' '$root/auth-homes/marie/.claude/fake-calls'"
run_rc 2 "marie-add-student refuses a bad age" "$S/marie-add-student.sh" "Léa" --age 400 --level beginner
run_rc 2 "marie-add-student refuses an unknown level" "$S/marie-add-student.sh" "Léa" --age 14 --level expert

cat >"$WORK/roster.txt" <<'ROSTER'
# hip-hop, Wednesday 17h
Emma Rodriguez, bounce steady
Noah Benali

Chloé Dubois, "loves the breaks"
ROSTER
run_rc 0 "generate-batch-workflow" "$S/generate-batch-workflow.sh" "$WORK/roster.txt" --date 2025-11-20 -o "$WORK/batch.json"
run_rc 0 "... the workflow validates" "$CAF_NODE" validate --config "$SRC/config/troupe.json" "$WORK/batch.json"
check "... 3 evaluations and a summary that needs them" json_is "$WORK/batch.json" \
  'len(j["tasks"]) == 4 and j["tasks"][3]["dependencies"] == ["eval-emma-rodriguez", "eval-noah-benali", "eval-chloe-dubois"]'
printf 'Emma\nEmma\n' >"$WORK/dup.txt"
run_rc 2 "generate-batch-workflow refuses a duplicate student" "$S/generate-batch-workflow.sh" "$WORK/dup.txt"

run_rc 0 "batch-evaluate" "$S/batch-evaluate.sh" "$WORK/roster.txt"
check "... a table with every task" bash -c "[ \$(grep -c complete '$WORK/out') -eq 4 ]"

run_rc 0 "test-agent-introduction" "$S/test-agent-introduction.sh" marie anga fabien
check "... each worker answered" bash -c "[ \$(grep -c '^\[complete\]' '$WORK/out') -eq 3 ]"
run_rc 2 "test-agent-introduction refuses an unknown worker" "$S/test-agent-introduction.sh" zoe

# The seed's make targets, on a root of their own (serve started for the
# while, offline).
kill -TERM $pid 2>/dev/null; wait $pid || true
trap at_exit EXIT
mroot=$(fresh_root seed-make)
MK=(make -s -C "$SRC" BUILD="$(dirname "$CAF_NODE")" ROOT="$mroot" EXECUTOR=sim)
run_rc 2 "make orchestration-cli-submit-tasks without WORKFLOW" "${MK[@]}" orchestration-cli-submit-tasks
check "... says how to call it" grep -q "usage: make orchestration-cli-submit-tasks WORKFLOW=" "$WORK/err"
run_rc 0 "make orchestration-cli-submit-tasks WORKFLOW=workflows/parallel-demo.json" \
  "${MK[@]}" orchestration-cli-submit-tasks WORKFLOW="$SRC/workflows/parallel-demo.json"
check "... every task of the workflow has a complete result" bash -c "
  [ \$(jq '.tasks | length' '$SRC/workflows/parallel-demo.json') -eq \$(cat '$mroot'/results/*/*.json | jq -s 'map(select(.status == \"complete\")) | length') ]"
check "... and cli-setup made the orchestrator's auth home" test -d "$mroot/auth-homes/orchestrator/.claude"

# --- make cli-auth: each auth home checked by the real pinned CLI -----------
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
aroot=$(fresh_root auth)
if [ -x "$CLI" ]; then
  run_rc 2 "make cli-auth with one worker's key set and no logins fails" \
    env -u ANTHROPIC_API_KEY MARIE_API_KEY=sk-test-marie CI= make -s -C "$SRC" ROOT="$aroot" cli-auth </dev/null
  check "... marie is ready with the key her api_key_env names" grep -q "^marie: ready, API key from MARIE_API_KEY" "$WORK/out"
  check "... the others and the orchestrator are named, with how to log them in" bash -c "
    grep -q '^anga: NOT LOGGED IN' '$WORK/out' && grep -q '^orchestrator: NOT LOGGED IN' '$WORK/out' &&
    grep -q 'auth-homes/anga/.claude .*claude auth login' '$WORK/out' &&
    grep -q 'cli-auth: 3 cannot call the API yet: anga fabien orchestrator' '$WORK/err'"
  check "... each home is private (700)" bash -c "[ \"\$(stat -c %a '$aroot/auth-homes/fabien')\" = 700 ]"
else
  fail "the pinned Claude Code CLI is not installed ($CLI)"
fi
# In a terminal it offers to log each in. A stand-in CLI keeps the login
# offline: `auth login` writes a credentials file, `auth status` reads it.
fake=$WORK/fake-cli
cat >"$fake" <<'SH'
#!/bin/sh
case "$1 $2" in
  "auth status") if [ -e "$CLAUDE_CONFIG_DIR/.credentials.json" ]; then echo '{"loggedIn": true, "authMethod": "claude.ai"}'; else echo '{"loggedIn": false}'; fi ;;
  "auth login") echo "key:${ANTHROPIC_API_KEY:-none}" >"$CLAUDE_CONFIG_DIR/.credentials.json" ;;
esac
SH
chmod +x "$fake"
tcfg=$WORK/auth-cfg.json
printf '{"workers": {"marie": {"prompt": "%s/prompts/DANCE.md"}, "anga": {"prompt": "%s/prompts/ANGA.md"}}}' "$SRC" "$SRC" >"$tcfg"
troot=$(fresh_root auth-tty)
# In the config's order (anga, marie), then the orchestrator: yes, no, yes.
printf 'y\nn\ny\n' | ANTHROPIC_API_KEY=sk-leak CI= script -qec "'$S/cli-auth.sh' '$troot' '$tcfg' '$fake'" /dev/null \
  >"$WORK/tty.out" 2>&1 || true
check "in a terminal cli-auth asks for each one not logged in" bash -c "
  [ \$(grep -c 'is not logged in: log in now (claude auth login)?' '$WORK/tty.out') -eq 3 ]"
check "... logs in those it was told to, each in its own home" bash -c "
  [ -e '$troot/auth-homes/anga/.claude/.credentials.json' ] && [ -e '$troot/auth-homes/orchestrator/.claude/.credentials.json' ] &&
  [ ! -e '$troot/auth-homes/marie/.claude/.credentials.json' ]"
check "... without the caller's own API key" grep -qx "key:none" "$troot/auth-homes/anga/.claude/.credentials.json"
check "... and says who is ready and who is not" bash -c "
  grep -q 'anga: ready, logged in (claude.ai)' '$WORK/tty.out' && grep -q 'marie: NOT LOGGED IN' '$WORK/tty.out'"

finish

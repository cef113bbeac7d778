#!/usr/bin/env bash
# Plain-language requests end to end: the simulator's router and template,
# then the orchestrator's model (the fake claude) planning, re-planning after
# a refused plan, giving up on garbage, and writing the answer.
source "$(dirname "$0")/lib.sh"
CFG="$SRC/config/troupe.json"
calls() { ls "$1/auth-homes/orchestrator/.claude/fake-calls/" 2>/dev/null | wc -l; }
call() { # call <root> <n>: the n-th recorded call of the orchestrator (1-based)
  ls "$1"/auth-homes/orchestrator/.claude/fake-calls/*.json | sort | sed -n "$2p"
}

# --- without an LLM: keyword router, fan-out over a roster, template report ---
root=$(fresh_root sim)
cat >"$root/roster.json" <<'JSON'
{"class": "hip-hop intermediate", "students": [
  {"name": "Emma Rodriguez", "level": "intermediate"},
  {"name": "Léo Martin", "level": "beginner"},
  {"name": "Chloé Dubois", "level": "intermediate"}]}
JSON
set +e
"$CAF_NODE" run "Evaluate all students in my hip-hop class" --context "$root/roster.json" \
  --root "$root" --config "$CFG" --executor sim --sim-latency-ms 5 >"$root/out.md" 2>"$root/err.log"
rc=$?
set -e
check "sim request: exits 0" [ "$rc" -eq 0 ]
for s in emma-rodriguez leo-martin chloe-dubois; do
  check "sim request: one task per student ($s) complete" \
    json_is "$root/results/marie/marie-$s.json" "j['status'] == 'complete' and j['simulated']"
done
check "sim request: only marie was given work" [ "$(ls "$root/results")" = marie ]
run_dir=$(ls -d "$root"/runs/*)
check "sim request: the plan is saved and is a valid workflow" \
  "$CAF_NODE" validate --config "$CFG" "$run_dir/plan.json"
check "sim request: the student's data reaches its task" \
  json_is "$run_dir/plan.json" "j['tasks'][1]['context']['item'] == {'name': 'Léo Martin', 'level': 'beginner'}"
check "sim request: the template report is printed and saved" cmp -s "$root/out.md" "$run_dir/report.md"
check "sim request: ... titled with the request, saying it is simulated" \
  bash -c "head -1 '$root/out.md' | grep -qx '# Evaluate all students in my hip-hop class' && grep -q 'Simulated run' '$root/out.md'"

root=$(fresh_root plan-only)
cp "$WORK/sim/roster.json" "$root/"
"$CAF_NODE" run "Evaluate all students in my hip-hop class, then write the newsletter" \
  --context "$root/roster.json" --plan-only --root "$root" --config "$CFG" --executor sim \
  >"$root/plan.json" 2>"$root/err.log"
check "--plan-only: runs nothing" bash -c "[ ! -e '$root/runs' ] && [ ! -e '$root/results' ]"
check "--plan-only: prints a valid workflow" "$CAF_NODE" validate --config "$CFG" "$root/plan.json"
check "--plan-only: the newsletter waits for every evaluation" json_is "$root/plan.json" \
  "[t['worker'] for t in j['tasks']] == ['marie'] * 3 + ['fabien'] and len(j['tasks'][3]['dependencies']) == 3"
check "--plan-only: the printed plan runs as a workflow file" \
  "$CAF_NODE" run "$root/plan.json" --root "$root" --config "$CFG" --executor sim --sim-latency-ms 1 \
  --log-level error >/dev/null
check "... giving its 4 results" [ "$(ls "$root"/results/*/*.json | wc -l)" -eq 4 ]

# --- the orchestrator's model plans and answers (fake claude) ---------------
root=$(fresh_root llm)
echo "Spring showcase on 14 June, 3 groups." >"$root/notes.txt"
set +e
with_fake_claude "$CAF_NODE" run "Prepare the spring showcase" --context "$root/notes.txt" \
  --root "$root" --config "$CFG" >"$root/out.md" 2>"$root/err.log"
rc=$?
set -e
check "llm request: exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -5 "$root/err.log"
check "llm request: the orchestrator was called twice (plan, answer)" [ "$(calls "$root")" -eq 2 ]
plan_call=$(call "$root" 1); synth_call=$(call "$root" 2)
check "llm request: the planner runs with its own prompt, model, no tools, its own home" json_is "$plan_call" \
  "j['argv'][j['argv'].index('--system-prompt-file') + 1] == '$SRC/prompts/orchestrator.md' and '--tools=' in j['argv'] and j['argv'][j['argv'].index('--model') + 1] == 'claude-sonnet-4-5' and j['env']['CLAUDE_CONFIG_DIR'].endswith('/auth-homes/orchestrator/.claude')"
check "llm request: it is told the request, the workers with their roles and the context" json_is "$plan_call" \
  "j['stdin'].startswith('# Plan request') and 'Prepare the spring showcase' in j['stdin'] and '- \`marie\`: Dance teacher' in j['stdin'] and 'Spring showcase on 14 June' in j['stdin'] and 'How to report' not in j['stdin']"
check "llm request: the planned tasks ran on their workers" bash -c \
  "[ -f '$root/results/anga/part-1.json' ] && [ -f '$root/results/fabien/part-2.json' ] && [ -f '$root/results/marie/part-3.json' ]"
check "llm request: the dependent got its dependencies' results" json_is "$root/results/marie/part-3.json" \
  "j['status'] == 'complete'"
check "llm request: the synthesiser gets each result's summary and small files, no transcript" json_is "$synth_call" \
  "(j['stdin'].startswith('# Synthesis request') and j['stdin'].count('complete\\n\\nFake claude completed the task') == 3
    and j['stdin'].count('Content of workspaces/') == 3 and j['stdin'].count('# Fake output') == 3 and 'session' not in j['stdin'])"
run_dir=$(ls -d "$root"/runs/*)
check "llm request: the answer leads the report, printed and saved" bash -c \
  "head -1 '$root/out.md' | grep -qx '# Fake synthesis' && cmp -s '$root/out.md' '$run_dir/report.md'"
check "llm request: report.json carries the answer" json_is "$run_dir/report.json" \
  "j['answer'].startswith('# Fake synthesis') and '- part-3 (marie): complete' in j['answer']"

root=$(fresh_root fix)
set +e
with_fake_claude "$CAF_NODE" run "Prepare the showcase FAKE_CLAUDE:plan-fix" --no-synthesis \
  --root "$root" --config "$CFG" >"$root/out.md" 2>"$root/err.log"
rc=$?
set -e
check "invalid plan fixed on the retry: exits 0" [ "$rc" -eq 0 ]
check "... after two planning calls and no synthesis (--no-synthesis)" [ "$(calls "$root")" -eq 2 ]
check "... the retry carried the exact errors" json_is "$(call "$root" 2)" \
  "'## Your previous plan was refused' in j['stdin'] and '- tasks[0].worker \"ghost\": not a configured worker (configured: anga, fabien, marie)' in j['stdin'] and '- tasks[1] \"b\": dependency \"c\" does not exist' in j['stdin']"
check "... the refusals are logged" grep -q 'plan refused: tasks\[0\].worker "ghost"' "$root/err.log"
check "... the template report is the answer" bash -c "head -1 '$root/out.md' | grep -qx '# Prepare the showcase FAKE_CLAUDE:plan-fix'"

root=$(fresh_root garbage)
set +e
with_fake_claude "$CAF_NODE" run "Prepare the showcase FAKE_CLAUDE:plan-garbage" \
  --root "$root" --config "$CFG" >"$root/out.md" 2>"$root/err.log"
rc=$?
set -e
check "garbage plans: exits 1" [ "$rc" -eq 1 ]
check "... after three planning calls" [ "$(calls "$root")" -eq 3 ]
check "... saying why" grep -q "error: no valid plan after 3 attempt(s):" "$root/err.log"
check "... and the answer's first words" grep -q "it begins: I would rather not plan this" "$root/err.log"
check "... nothing ran" bash -c "[ ! -e '$root/results' ] && [ ! -e '$root/runs' ]"

root=$(fresh_root planner-down)
mkdir -p "$root/auth-homes/orchestrator/.claude"
echo 401 >"$root/auth-homes/orchestrator/.claude/fake-mode"
set +e
with_fake_claude "$CAF_NODE" run "Prepare the showcase" --root "$root" --config "$CFG" >/dev/null 2>"$root/err.log"
rc=$?
set -e
check "a planner whose key is refused: exits 1" [ "$rc" -eq 1 ]
check "... at once (one call)" [ "$(calls "$root")" -eq 1 ]
check "... saying so" grep -q "the planner's call failed: auth: " "$root/err.log"

finish

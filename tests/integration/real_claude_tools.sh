#!/usr/bin/env bash
# The agents' real work, with the real pinned Claude Code CLI against the
# mock Messages API answering with tool_use blocks (tests/mock_api, the
# `mock-script:` line of a task): a Write lands in the workspace and is
# listed with its sha256; a write outside the workspace and a command that
# is not granted are refused by the CLI and surfaced as each worker is
# configured; a claimed file that is not there fails the attempt; a
# worker's sub-agent is offered, runs on its own model and is booked under it;
# a dependent reads its dependency's file, and may not change it, on the
# same node and on another one; a report
# is checked against its output_schema by the CLI.
source "$(dirname "$0")/lib.sh"
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
AWAIT="$PY $SRC/tests/integration/await_results.py"
if [ ! -x "$CLI" ]; then
  fail "the pinned Claude Code CLI is not installed ($CLI): run make test"
  finish
fi

mock_dir=$(fresh_root mock)
"$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$mock_dir/port" --log "$mock_dir/requests.jsonl" &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null; at_exit' EXIT
$AWAIT --timeout 20 "$mock_dir/port"
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$mock_dir/port")"
export MARIE_KEY=sk-test-marie ANGA_KEY=sk-test-anga FABIEN_KEY=sk-test-fabien

# The shipped permissions of each worker, with short deadlines.
cfg="$mock_dir/cfg.json"
"$PY" - "$SRC/config/troupe.json" "$cfg" "$SRC" "$CLI" <<'PYEOF'
import json, sys
shipped = json.load(open(sys.argv[1]))
src, cli = sys.argv[3], sys.argv[4]
keep = ("tools", "permission_mode", "allowed_tools", "disallowed_tools", "on_denial")
workers = {}
for name, w in shipped["workers"].items():
    x = {k: w[k] for k in keep if k in w}
    x.update(prompt=f"{src}/prompts/{w['prompt'].split('/')[-1]}", api_key_env=f"{name.upper()}_KEY",
             agents=f"{src}/prompts/agents/{name}",
             deadline_s=60, max_turns=6, max_attempts=2)
    workers[name] = x
json.dump({"workers": workers, "orchestrator": {"retry_base_ms": 10, "retry_max_ms": 20},
           "executors": {"claude": {"bin": cli, "max_retries": 0}}}, open(sys.argv[2], "w"), indent=1)
PYEOF
check "the shipped config with the pinned CLI validates" "$CAF_NODE" validate "$cfg"

# one_task <name> <worker> <script steps as JSON> [task fields as JSON]: a
# one-task workflow whose description carries the mock's script; echoes
# caf-node's exit code.
one_task() {
  local root=$WORK/$1
  mkdir -p "$root"
  "$PY" - "$root/wf.json" "$1" "$2" "$3" "${4:-{\}}" <<'PYEOF'
import json, sys
path, name, worker, steps, fields = sys.argv[1:]
t = {"task_id": "t", "worker": worker, "description": f"Task {name}.\nmock-script: {json.dumps(json.loads(steps))}"}
t.update(json.loads(fields))
json.dump({"name": name, "synthesize": False, "tasks": [t]}, open(path, "w"))
PYEOF
  set +e
  "$CAF_NODE" run "$root/wf.json" --root "$root" --config "$cfg" >"$root/report.md" 2>"$root/err.log"
  echo $?
  set -e
}
res() { echo "$WORK/$1/results/$2/t.json"; }

# --- a Write in the workspace: written, listed, digested ------------------------
rc=$(one_task write marie '[
  {"tool": "Write", "input": {"file_path": "{cwd}/evaluation.md", "content": "# Emma\n\nTechnique 16/20\n"}},
  {"tool": "Write", "input": {"file_path": "{cwd}/notes/draft.md", "content": "draft"}},
  {"report": {"summary": "Evaluation written", "findings": [], "artifacts": ["evaluation.md"]}}]')
check "write: the run exits 0" [ "$rc" -eq 0 ]
r=$(res write marie)
check "write: the file is in marie's workspace with the content the model sent" \
  bash -c "printf '# Emma\n\nTechnique 16/20\n' | cmp -s - '$WORK/write/workspaces/marie/evaluation.md'"
check "write: complete, listed with its size and sha256" json_is "$r" \
  "(j['status'] == 'complete' and j['files'][0] == {'path': 'workspaces/marie/evaluation.md', 'size': 24, 'listed': True,
   'sha256': __import__('hashlib').sha256(open('$WORK/write/workspaces/marie/evaluation.md', 'rb').read()).hexdigest()})"
check "write: the file it wrote but did not list is recorded too" json_is "$r" \
  "j['artifacts'] == ['workspaces/marie/evaluation.md', 'workspaces/marie/notes/draft.md'] and j['files'][1]['listed'] is False"
check "write: the CLI ran the tool and the mock got its result back" "$PY" -c "
import json, sys
rs = [json.loads(l) for l in open('$mock_dir/requests.jsonl')]
done = [t for r in rs if r['api_key'] == 'sk-test-marie' for t in r['tool_results'] if t['tool'] == 'Write']
sys.exit(0 if len(done) == 2 and not any(t['is_error'] for t in done) else 1)"
check "write: the report lists the file with its digest" grep -q 'workspaces/marie/evaluation.md` (24 bytes, sha256' "$WORK/write/report.md"

# --- a sub-agent: offered to the model, run on its own model, booked under it -----
rc=$(one_task subagent marie '[
  {"tool": "Write", "input": {"file_path": "{cwd}/evaluation.md", "content": "# Emma\n"}},
  {"tool": "Agent", "input": {"description": "Check the evaluation", "prompt": "Check evaluation.md",
                              "subagent_type": "evaluation-checker",
                              "run_in_background": false}},
  {"report": {"summary": "Evaluation written and checked", "findings": [], "artifacts": ["evaluation.md"]}}]')
check "subagent: the run exits 0" [ "$rc" -eq 0 ]
check "subagent: marie's sub-agent is offered to the model" "$PY" -c "
import json, sys
rs = [json.loads(l) for l in open('$mock_dir/requests.jsonl')]
sys.exit(0 if any('evaluation-checker' in r['agent_types'] for r in rs if r['api_key'] == 'sk-test-marie') else 1)"
check "subagent: it ran on haiku with only its own tools" "$PY" -c "
import json, sys
rs = [json.loads(l) for l in open('$mock_dir/requests.jsonl')]
sub = [r for r in rs if r['api_key'] == 'sk-test-marie' and 'haiku' in r['model']]
sys.exit(0 if sub and all(sorted(r['tool_names']) == ['Glob', 'Grep', 'Read'] for r in sub) else 1)"
check "subagent: its cost is booked under its own model" json_is "$(res subagent marie)" \
  "(j['status'] == 'complete' and len(j['models']) == 2
   and all(m['cost_usd'] > 0 for m in j['models'].values())
   and any('haiku' in k for k in j['models'])
   and abs(sum(m['cost_usd'] for m in j['models'].values()) - j['cost_usd']) < 1e-9)"
check "subagent: the report's Models table has a haiku row" grep -q '^| claude-haiku' "$WORK/subagent/report.md"

# --- a dependent reads its dependency's file, and may not change it --------------
root=$WORK/handoff
mkdir -p "$root"
"$PY" - "$root/wf.json" <<'PYEOF'
import json, sys
script = lambda steps: "mock-script: " + json.dumps(steps)
json.dump({"name": "handoff", "synthesize": False, "tasks": [
  {"task_id": "eval", "worker": "marie", "description": "Evaluate Emma.\n" + script([
    {"tool": "Write", "input": {"file_path": "{cwd}/evaluation.md", "content": "# Emma\n\nTechnique 16/20\n"}},
    {"report": {"summary": "Evaluation written", "findings": [], "artifacts": ["evaluation.md"]}}])},
  {"task_id": "poster", "worker": "fabien", "dependencies": ["eval"],
   "description": "A poster from the evaluation.\n" + script([
    {"tool": "Read", "input": {"file_path": "{file:evaluation.md}"}},
    {"tool": "Edit", "input": {"file_path": "{file:evaluation.md}", "old_string": "16/20", "new_string": "20/20"}},
    {"report": {"summary": "Poster drafted", "findings": [], "artifacts": []}}])}]}, open(sys.argv[1], "w"))
PYEOF
set +e
"$CAF_NODE" run "$root/wf.json" --root "$root" --config "$cfg" >"$root/report.md" 2>"$root/err.log"
rc=$?
set -e
check "handoff: the run exits 1 (fabien's write to marie's file is refused)" [ "$rc" -eq 1 ]
check "handoff: fabien read marie's file at the path its prompt gave" "$PY" -c "
import json, sys
rs = [json.loads(l) for l in open('$mock_dir/requests.jsonl')]
reads = [t for r in rs if r['api_key'] == 'sk-test-fabien' for t in r['tool_results'] if t['tool'] == 'Read']
use = [r['tool_use']['input']['file_path'] for r in rs if r['api_key'] == 'sk-test-fabien' and r.get('tool_use')]
sys.exit(0 if reads and not reads[0]['is_error'] and 'Technique 16/20' in reads[0]['content']
         and use[0] == '$(realpath "$root")/workspaces/marie/evaluation.md' else 1)"
check "handoff: marie's file is unchanged" \
  bash -c "printf '# Emma\n\nTechnique 16/20\n' | cmp -s - '$root/workspaces/marie/evaluation.md'"
check "handoff: the refused Edit is fabien's denial" json_is "$root/results/fabien/poster.json" \
  "j['status'] == 'failed' and j['error']['kind'] == 'permission_denied' and j['denials'][0]['tool'] == 'Edit'"

# --- across nodes: the file travels with the result to the dependent's node ----
# An orchestrator and one node per worker, each with its own root, as in
# compose: fabien's CLI opens marie's file in its own workspace.
root=$WORK/nodes
mkdir -p "$root/node-marie" "$root/node-fabien"
"$CAF_NODE" orchestrator --root "$root" --config "$cfg" --workers 'tcp://127.0.0.1:*' \
  --producers 'tcp://127.0.0.1:*' --events 'tcp://127.0.0.1:*' --ready-file "$root/orch.ready" >"$root/orch.log" 2>&1 &
node_pids=($!)
trap 'kill ${node_pids[*]} $mock_pid 2>/dev/null; at_exit' EXIT
$AWAIT --timeout 30 "$root/orch.ready"
w_ep=$(jq -r .workers "$root/orch.ready")
p_ep=$(jq -r .producers "$root/orch.ready")
for w in marie fabien; do
  "$CAF_NODE" worker "$w" --connect "$w_ep" --root "$root/node-$w" --config "$cfg" \
    --ready-file "$root/node-$w/ready" >"$root/node-$w/worker.log" 2>&1 &
  node_pids+=($!)
done
$AWAIT --timeout 30 "$root/node-marie/ready" "$root/node-fabien/ready"
"$PY" - "$root/wf.json" <<'PYEOF'
import json, sys
script = lambda steps: "mock-script: " + json.dumps(steps)
json.dump({"name": "nodes", "synthesize": False, "tasks": [
  {"task_id": "eval", "worker": "marie", "description": "Evaluate Emma.\n" + script([
    {"tool": "Write", "input": {"file_path": "{cwd}/evaluation.md", "content": "# Emma\n\nTechnique 16/20\n"}},
    {"report": {"summary": "Evaluation written", "findings": [], "artifacts": ["evaluation.md"]}}])},
  {"task_id": "poster", "worker": "fabien", "dependencies": ["eval"],
   "description": "A poster from the evaluation (on another node).\n" + script([
    {"tool": "Read", "input": {"file_path": "{file:evaluation.md}"}},
    {"report": {"summary": "Poster drafted", "findings": [], "artifacts": []}}])}]}, open(sys.argv[1], "w"))
PYEOF
check "nodes: the chain over two worker nodes completes" bash -c "
  '$CAF_NODE' submit '$root/wf.json' --wait --timeout-s 60 --connect '$p_ep' | jq_true '.status == \"complete\"'"
check "nodes: the orchestrator keeps marie's file" \
  cmp -s "$root/node-marie/workspaces/marie/evaluation.md" "$root/artifacts/marie/eval/evaluation.md"
copy=$(realpath -m "$root/node-fabien/workspaces/fabien/inputs/eval/evaluation.md")
check "nodes: fabien's CLI read it in its own workspace, at the path its prompt gave" "$PY" -c "
import json, sys
rs = [json.loads(l) for l in open('$mock_dir/requests.jsonl')]
asked = [i for i, r in enumerate(rs) if r['api_key'] == 'sk-test-fabien' and (r.get('tool_use') or {}).get('input', {}).get('file_path') == '$copy']
got = [t for r in (rs[asked[0] + 1:] if asked else []) if r['api_key'] == 'sk-test-fabien' for t in r['tool_results']
       if t['tool'] == 'Read' and not t['is_error'] and 'Technique 16/20' in t['content']]
sys.exit(0 if asked and got else 1)"
kill "${node_pids[@]}" 2>/dev/null || true

# --- a write outside the workspace: refused, and the task fails (marie: fail) -----
rc=$(one_task escape marie '[
  {"tool": "Write", "input": {"file_path": "{cwd}/../anga/planted.md", "content": "x"}},
  {"report": {"summary": "Planted a file", "findings": [], "artifacts": []}}]')
check "escape: the run exits 1" [ "$rc" -eq 1 ]
check "escape: nothing was written outside the workspace" [ ! -e "$WORK/escape/workspaces/anga/planted.md" ]
check "escape: failed as permission_denied with the path, not retried" json_is "$(res escape marie)" \
  "(j['status'] == 'failed' and j['error']['kind'] == 'permission_denied' and 'planted.md' in j['error']['message']
   and j['attempt'] == 1 and j['denials'][0]['tool'] == 'Write')"
check "escape: the report says what was refused" grep -q 'permission_denied' "$WORK/escape/report.md"

# --- a command anga is not granted: refused, reported beside complete -------------
rc=$(one_task deny anga '[
  {"tool": "Bash", "input": {"command": "ls -la", "description": "list"}},
  {"tool": "Bash", "input": {"command": "touch pwned.txt", "description": "plant"}},
  {"tool": "Agent", "input": {"description": "Find the tests", "prompt": "Find tests", "subagent_type": "test-finder",
                              "run_in_background": false}},
  {"report": {"summary": "Reviewed", "findings": ["one finding"], "artifacts": []}}]')
check "deny: the run exits 0 (anga reports denials)" [ "$rc" -eq 0 ]
check "deny: the command was not run" [ ! -e "$WORK/deny/workspaces/anga/pwned.txt" ]
check "deny: complete, with the refused command in denials" json_is "$(res deny anga)" \
  "j['status'] == 'complete' and j['denials'] == [{'tool': 'Bash', 'input': 'touch pwned.txt'}]"
check "deny: the granted read-only command ran" "$PY" -c "
import json, sys
rs = [json.loads(l) for l in open('$mock_dir/requests.jsonl')]
bash = [t for r in rs if r['api_key'] == 'sk-test-anga' for t in r['tool_results'] if t['tool'] == 'Bash']
sys.exit(0 if len(bash) == 2 and not bash[0]['is_error'] and bash[1]['is_error'] else 1)"
check "deny: its sub-agent ran under dontAsk (Agent needs no grant)" json_is "$(res deny anga)" \
  "any('haiku' in k for k in j['models'])"
check "deny: the event log has the denial" grep -q 'denied: Bash touch pwned.txt' "$WORK"/deny/runs/*/events.jsonl
check "deny: the report has it" grep -q 'touch pwned.txt' "$WORK/deny/report.md"

# --- a report schema: the CLI checks the report and asks again -----------------
schema='{"output_schema": {"type": "object", "required": ["summary", "score"],
  "properties": {"summary": {"type": "string"}, "score": {"type": "integer", "minimum": 0, "maximum": 20}}}}'
rc=$(one_task schema marie '[
  {"tool": "StructuredOutput", "input": {"summary": "Emma evaluated", "score": "sixteen"}},
  {"tool": "StructuredOutput", "input": {"summary": "Emma evaluated", "score": 16}}]' "$schema")
check "schema: the run exits 0" [ "$rc" -eq 0 ]
check "schema: the CLI refused the report that did not conform, with the reason" "$PY" -c "
import json, sys
rs = [json.loads(l) for l in open('$mock_dir/requests.jsonl')]
so = [t for r in rs if r['api_key'] == 'sk-test-marie' for t in r['tool_results'] if t['tool'] == 'StructuredOutput']
sys.exit(0 if so and so[0]['is_error'] and 'must be integer' in so[0]['content'] else 1)"
check "schema: the result keeps the conforming report as output" json_is "$(res schema marie)" \
  "j['status'] == 'complete' and j['output'] == {'summary': 'Emma evaluated', 'score': 16} and j['summary'] == 'Emma evaluated'"
rc=$(one_task noschema marie '[
  {"report": {"summary": "No structured output", "findings": [], "artifacts": []}}]' "$schema")
check "schema: a run that never gives the structured report fails as bad_output" json_is "$(res noschema marie)" \
  "j['status'] == 'failed' and j['error']['kind'] == 'bad_output' and 'output_schema' in j['error']['message']"

# --- a claimed file that is not there: bad_output, retried ------------------------
rc=$(one_task missing fabien '[
  {"report": {"summary": "Campaign written", "findings": [], "artifacts": ["campaign.md"]}}]')
check "missing: the run exits 1" [ "$rc" -eq 1 ]
check "missing: bad_output naming the path, after both attempts" json_is "$(res missing fabien)" \
  "(j['status'] == 'failed' and j['error']['kind'] == 'bad_output' and 'campaign.md does not exist' in j['error']['message']
   and j['attempt'] == 2)"
finish

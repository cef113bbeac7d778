#!/usr/bin/env bash
# A run's budget (workflow budget_usd) with the real pinned Claude Code CLI
# against the mock Messages API, which sets what every call costs
# (--input-tokens / --output-tokens: fixed usage, no prompt cache).
#
# Six independent tasks over three workers (one slot each), each scripted
# to four tool turns (five calls). t0..t2 carry their own budget_usd of one
# and a half calls; the workflow's budget is their three caps and half of
# what t3..t5 cost at the least (the low end of their estimate), so what is
# left for each of those cannot fit: they end cancelled (budget) without a
# call. t0..t2 reach their caps. Checked, from the mock's log and the
# results: each task spent at most its cap and one call; the run at most
# its budget and one call (README: "A run goes past its budget only by what
# a task spends past its own cap inside one turn"). The measured overshoot
# is printed.
#
#   bash tests/integration/real_claude_budget.sh <caf-node> <src dir>
source "$(dirname "$0")/lib.sh"
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
AWAIT="$PY $SRC/tests/integration/await_results.py"
if [ ! -x "$CLI" ]; then
  fail "the pinned Claude Code CLI is not installed ($CLI): run make test"
  finish
fi

# What each call reports; at Sonnet's list price ($3 in, $15 out per
# million tokens) $0.0510.
IN=12000 OUT=1000
mock_dir=$(fresh_root mock)
"$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$mock_dir/port" --log "$mock_dir/requests.jsonl" \
  --input-tokens "$IN" --output-tokens "$OUT" &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null; at_exit' EXIT
$AWAIT --timeout 20 "$mock_dir/port"
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$mock_dir/port")"
export MARIE_KEY=sk-test-marie ANGA_KEY=sk-test-anga FABIEN_KEY=sk-test-fabien

root=$(fresh_root budget)
cat >"$root/cfg.json" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "api_key_env": "MARIE_KEY", "deadline_s": 60, "max_turns": 20, "slots": 1},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "api_key_env": "ANGA_KEY", "deadline_s": 60, "max_turns": 20, "slots": 1},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "api_key_env": "FABIEN_KEY", "deadline_s": 60, "max_turns": 20, "slots": 1}},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON
# The workflow without its budget first: the estimate says what t3..t5 cost
# at the least, which sets the budget.
"$PY" - "$root/wf.json" "$IN" "$OUT" <<'PYEOF'
import json, sys
out, i, o = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
call = (i * 3 + o * 15) / 1e6
steps = [{"tool": "Glob", "input": {"pattern": "*"}}] * 4
tasks = [{"task_id": f"t{k}", "worker": ("marie", "anga", "fabien")[k % 3], "max_attempts": 1,
          "description": f"Task {k}: list the files, four times.\nmock-script: " + json.dumps(steps)}
         for k in range(6)]
for t in tasks[:3]:
    t["budget_usd"] = round(1.5 * call, 6)
json.dump({"name": "budget", "synthesize": False, "tasks": tasks}, open(out, "w"))
PYEOF
"$CAF_NODE" estimate "$root/wf.json" --root "$root" --config "$root/cfg.json" --json >"$root/estimate.json" 2>"$root/estimate.log"
"$PY" - "$root/wf.json" "$root/estimate.json" <<'PYEOF'
import json, sys
wf, est = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
least = min(t["cost_usd"]["low"] for t in est["tasks"] if t["task_id"] in ("t3", "t4", "t5"))
wf["budget_usd"] = sum(t["budget_usd"] for t in wf["tasks"][:3]) + least / 2
json.dump(wf, open(sys.argv[1], "w"))
PYEOF
BUDGET=$(jq .budget_usd "$root/wf.json")

since=$("$PY" -c 'import time; print(time.time())')
start=$SECONDS
set +e
"$CAF_NODE" run "$root/wf.json" --root "$root" --config "$root/cfg.json" >"$root/report.md" 2>"$root/err.log"
rc=$?
set -e
check "a run past its budget exits 1" [ "$rc" -eq 1 ]
check "... within 60 s ($((SECONDS - start)) s)" [ $((SECONDS - start)) -le 60 ]
for t in t3 t4 t5; do
  w=$(jq -r --arg t "$t" '.tasks[] | select(.task_id == $t) | .worker' "$root/wf.json")
  check "$t, whose reservation no longer fits, ends cancelled (budget)" json_is "$root/results/$w/$t.json" \
    "j['status'] == 'cancelled' and j['error']['kind'] == 'budget' and 'does not fit' in j['error']['message'] and j['cost_usd'] == 0"
done
for t in marie/t0 anga/t1 fabien/t2; do
  check "$t, held to its own cap, fails budget" json_is "$root/results/$t.json" \
    "j['status'] == 'failed' and j['error']['kind'] == 'budget' and j['cost_usd'] > 0"
done
"$PY" - "$mock_dir/requests.jsonl" "$since" "$root" "$BUDGET" <<'PYEOF' >"$root/checks.txt"
import json, sys
log, since, root, budget = sys.argv[1], float(sys.argv[2]), sys.argv[3], float(sys.argv[4])
wf = json.load(open(root + "/wf.json"))
ok = lambda c, m: print(("ok " if c else "FAIL ") + m)
reqs = [r for r in map(json.loads, open(log)) if r["method"] == "POST" and r["t"] >= since]
answered = [r for r in reqs if r.get("status") == 200]
def cost(r):  # what the API metered, at the list price of the mock's model
    assert "sonnet" in r["model"], r["model"]
    plain = r["input_tokens"] - r["cache_creation_input_tokens"]
    return (plain * 3 + r["cache_creation_input_tokens"] * 3.75 + r["cache_read_input_tokens"] * 0.3
            + r["output_tokens"] * 15) / 1e6
costs = [cost(r) for r in answered]
ok(len(answered) > 0 and max(costs) - min(costs) < 1e-9,
   f"every call cost what the mock set (${min(costs, default=0):.4f}, {len(answered)} calls)")
call = max(costs, default=0)
results = {t["task_id"]: json.load(open(f"{root}/results/{t['worker']}/{t['task_id']}.json")) for t in wf["tasks"]}
prompts = {k: [r for r in reqs if f"Task {k[1:]}: list the files" in r["user"]] for k in results}
ok(all(prompts[k] for k in ("t0", "t1", "t2")) and not any(prompts[k] for k in ("t3", "t4", "t5")),
   "t0..t2 reached the API, the cancelled tasks never did")
# One slot a worker and its second task cancelled: each key is one task's.
keys = {"marie": "t0", "anga": "t1", "fabien": "t2"}
for w, k in keys.items():
    mine = [cost(r) for r in answered if r["api_key"] == f"sk-test-{w}"]
    spent, cap = results[k]["cost_usd"], next(t["budget_usd"] for t in wf["tasks"] if t["task_id"] == k)
    ok(abs(spent - sum(mine)) < 1e-6, f"{k}'s cost is what the API metered for it (${spent:.4f}, {len(mine)} calls)")
    ok(spent <= cap + max(mine, default=0) + 1e-9,
       f"{k} spent at most its cap and one call (${spent:.4f} of ${cap:.4f}: {spent - cap:+.4f})")
spent = sum(r["cost_usd"] for r in results.values())
ok(abs(spent - sum(costs)) < 1e-6, f"the run's results add up to what the API metered (${spent:.4f})")
# Each CLI stops only after the turn that crossed its cap: a run passes its
# budget by at most one call per task that reached its cap (they run side
# by side, each on its own reservation).
capped = sum(1 for r in results.values()
             if r["status"] == "failed" and r.get("error", {}).get("kind") == "budget")
ok(spent <= budget + capped * call + 1e-9,
   f"the run spent at most its budget and one call per capped task (${spent:.4f} of ${budget:.4f}: "
   f"{spent - budget:+.4f}; {capped} capped, one call ${call:.4f})")
print(f"measured {spent:.4f} {budget:.4f} {call:.4f} {len(answered)}")
PYEOF
grep -v '^measured ' "$root/checks.txt" >"$root/checks.ok"
read_checks "$root/checks.ok"
grep '^measured ' "$root/checks.txt" | while read -r _ spent budget call n; do
  "$PY" -c "import sys; s, b, c = map(float, sys.argv[1:4])
print(f'  measured: spent \${s:.4f} of a \${b:.4f} budget in {sys.argv[4]} calls of \${c:.4f}: '
      f'overshoot \${s - b:+.4f} ({100 * (s - b) / b:+.1f} % of the budget, {(s - b) / c:+.2f} calls)')" \
    "$spent" "$budget" "$call" "$n"
done

finish

#!/usr/bin/env bash
# Spend and control with the fake claude CLI: the cost preview before and
# after a history exists, the estimate beside the actuals in the report.
source "$(dirname "$0")/lib.sh"

CFG="$SRC/config/troupe.json"
WF="$SRC/workflows/parallel-demo.json"
node() { with_fake_claude "$CAF_NODE" "$@"; }

# -- estimate ------------------------------------------------------------------
root=$(fresh_root estimate)
rc=0
node estimate "$WF" --root "$root" --config "$CFG" --json >"$root/before.json" 2>"$root/err.log" || rc=$?
check "estimate exits 0" [ "$rc" -eq 0 ]
check "without a history every task is priced from the list, low <= expected <= high" \
  json_is "$root/before.json" 'all(t["basis"] == "list price" and t["cost_usd"]["low"] <= t["cost_usd"]["expected"] <= t["cost_usd"]["high"] for t in j["tasks"]) and len(j["tasks"]) == 3'
check "estimate runs nothing" [ ! -e "$root/runs" ] 
check "... and calls no CLI" [ ! -e "$root/auth-homes/marie/.claude/fake-calls" ]
node run "$WF" --root "$root" --config "$CFG" --estimate >"$root/run-estimate.txt" 2>>"$root/err.log" || rc=$?
check "run --estimate prints the table and runs nothing" \
  bash -c "grep -q '^total: ' '$root/run-estimate.txt' && [ ! -e '$root/runs' ]"

node run "$WF" --root "$root" --config "$CFG" >"$root/report.md" 2>>"$root/err.log" || rc=$?
check "the run completes" [ "$rc" -eq 0 ]
report=$(ls "$root"/runs/*/report.json)
check "report.json puts the estimate beside the actuals of its 3 tasks" \
  json_is "$report" 'j["estimate"]["compared"] == 3 and all("actual_cost_usd" in t and "inside" in t for t in j["estimate"]["tasks"])'
check "report.md says how many cost what their range said" \
  grep -q "of 3 completed tasks cost what their range said" "$root/report.md"
check "the run keeps its estimate" test -s "$(dirname "$report")/estimate.json"

node estimate "$WF" --root "$root" --config "$CFG" --json --fresh >"$root/after.json" 2>>"$root/err.log"
check "with a history each worker is estimated from it" \
  json_is "$root/after.json" 'all(t["basis"] == "history (1 run)" for t in j["tasks"])'
"$PY" - "$root/after.json" "$report" >"$root/checks" <<'PY'
import json, sys
est = {t["task_id"]: t for t in json.load(open(sys.argv[1]))["tasks"]}
actual = {t["task_id"]: t["cost_usd"] for t in json.load(open(sys.argv[2]))["tasks"]}
inside = all(est[k]["cost_usd"]["low"] <= v <= est[k]["cost_usd"]["high"] for k, v in actual.items())
print(("ok" if inside else "FAIL"), "the history's range holds the costs it learnt from")
PY
read_checks "$root/checks"
node estimate "$WF" --root "$root" --config "$CFG" >"$root/reused.txt" 2>>"$root/err.log"
check "tasks complete in an earlier run are reused at no cost" \
  bash -c "[ \$(grep -c ' reused ' '$root/reused.txt') -eq 3 ] && grep -q '^total: \$0.0000 / \$0.0000 / \$0.0000' '$root/reused.txt'"
node estimate "$WF" --root "$root" --config "$CFG" --fresh --budget-usd 0.000001 >"$root/tight.txt" 2>>"$root/err.log"
check "a budget below the expected cost does not fit" grep -q "^budget: does not fit: the expected" "$root/tight.txt"
node estimate "$WF" --root "$root" --config "$CFG" --fresh --budget-usd 100 >"$root/loose.txt" 2>>"$root/err.log"
check "a budget above the high end fits" grep -q "^budget: fits: even the high estimate" "$root/loose.txt"
rc=0
node estimate "$root/nope.json" --root "$root" --config "$CFG" >/dev/null 2>"$root/missing.log" || rc=$?
check "estimate of a missing workflow exits 2 and says so" \
  bash -c "[ $rc -eq 2 ] && grep -q 'no such file' '$root/missing.log'"

finish

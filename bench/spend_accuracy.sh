#!/usr/bin/env bash
# What troupe's spend figures are worth, with the real pinned Claude Code CLI
# (tests/claude-cli) against the mock Messages API (tests/mock_api).
#
#   bench/spend_accuracy.sh <build dir> [repeats]
#
# 1. The estimate's range. Each shipped workflow (workflows/*.json) runs
#    first with no history, so every task is priced from the list price,
#    then again with --fresh, estimated from the history of the first. Each
#    run writes runs/<id>/estimate.json and report.json's "estimate" part
#    (core/estimate.cpp, estimate_vs_actual_json): per task its
#    low / expected / high and the actual cost. This is done in two fresh
#    roots, each starting on a fresh mock (a cold prompt cache): "warm" keeps
#    the mock for the second run, which so finds the cache the first left
#    (the same prompts within the cache's 5 minutes); "cold" gets a new mock
#    first, as a second run after the cache expired would. Printed: how many
#    completed tasks cost inside [low, high], for run 1 (both roots) and each
#    run 2; of those outside, how many below low and above high; the median
#    of actual / expected. The workers are config/troupe.json's (prompts,
#    sub-agents, tools, models, max_turns, slots), with their keys for the
#    mock, the pinned CLI, no rate limits (they pace, they do not price) and
#    no orchestrator (the report's answer is the template: no synthesis call).
# 2. The overshoot of a run budget. 6 independent tasks over 3 workers (one
#    slot each), each scripted to 4 tool turns (5 calls). "shares": a
#    workflow budget_usd of 10 calls where they would cost 30, each task
#    reserving an equal share; "caps": t0..t2 with their own budget_usd of 1.5
#    calls, the workflow's budget their sum and half what t3..t5 cost at the
#    least (their estimate's low), so those end cancelled (budget), as in
#    tests/integration/real_claude_budget.sh. The mock sets the usage of
#    every call (--input-tokens / --output-tokens): "fixed" reports 12,000
#    uncached input and 1,000 output tokens, $0.0510 a call at Sonnet's list
#    price; "cache" fixes only the output (1,000) and keeps the modelled
#    prompt cache. Printed: the budget, what the tasks spent (the sum of
#    their results' cost_usd), the overshoot (spent - budget, in % of the
#    budget and in calls), the largest single call (the mock's log at list
#    price), how many tasks spent past the cap they were held to and the
#    most one did, what the API metered in all (its log), how the tasks
#    ended.
#
# Each part runs `repeats` times (default 1), every time in new roots and
# against a new mock. KEEP=1 keeps the work directory.
set -euo pipefail
BUILD=$(cd "${1:?usage: bench/spend_accuracy.sh <build dir> [repeats]}" && pwd)
REPEATS=${2:-1}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
CAF_NODE="$BUILD/caf-node"
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
AWAIT="$PY $SRC/tests/integration/await_results.py"
[ -x "$CAF_NODE" ] || { echo "no caf-node in $BUILD" >&2; exit 2; }
[ -x "$CLI" ] || { echo "the pinned CLI is not installed ($CLI): run 'make claude-cli'" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/troupe-spendbench.XXXXXX")
mock=
cleanup() {
  [ -z "$mock" ] || kill "$mock" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
export MARIE_KEY=sk-bench-marie ANGA_KEY=sk-bench-anga FABIEN_KEY=sk-bench-fabien

start_mock() { # start_mock <dir> [mock options]: a new mock, logging to <dir>/requests.jsonl
  local dir=$1
  shift
  stop_mock
  mkdir -p "$dir"
  "$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$dir/port" --log "$dir/requests.jsonl" "$@" &
  mock=$!
  $AWAIT --timeout 20 "$dir/port" >/dev/null
  export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$dir/port")"
}
stop_mock() {
  if [ -n "$mock" ]; then
    kill "$mock" 2>/dev/null || true
    wait "$mock" 2>/dev/null || true
    mock=
  fi
}
new_run() { # new_run <root> <runs before>: the run directory that was not there before
  comm -13 <(printf '%s\n' "$2" | sort) <(ls "$1/runs" | sort) | tail -1
}

# --- 1. the estimate's range on the shipped workflows ---------------------------
"$PY" - "$SRC/config/troupe.json" "$W/cfg.json" "$CLI" <<'PYEOF'
import json, os, sys
path, out, cli = sys.argv[1:4]
cfg = json.load(open(path))
here = os.path.dirname(os.path.abspath(path))
for name, w in cfg["workers"].items():
    for k in ("prompt", "agents"):
        if k in w:
            w[k] = os.path.normpath(os.path.join(here, w[k]))
    w["api_key_env"] = name.upper() + "_KEY"
    w.pop("limits", None)
cfg.pop("orchestrator", None)
cfg.pop("limits", None)
cfg["executors"]["claude"]["bin"] = cli
json.dump(cfg, open(out, "w"), indent=1)
PYEOF

: >"$W/accuracy.jsonl"
# Two roots a workflow: "warm" runs both times against one mock, so the second
# run finds the prompt cache the first left (an identical prompt within the
# cache's 5 minutes is all cache reads); "cold" gets a new mock before its
# second run, as a run after the cache expired would. Run 1 counts both roots.
for rep in $(seq 1 "$REPEATS"); do
  for wf in "$SRC"/workflows/*.json; do
    name=$(basename "$wf" .json)
    for cache in warm cold; do
      root="$W/acc-$rep/$name-$cache"
      mkdir -p "$root"
      for n in 1 2; do
        if [ "$n" = 1 ] || [ "$cache" = cold ]; then start_mock "$W/acc-$rep/mock-$name-$cache-$n"; fi
        fresh=()
        [ "$n" = 1 ] || fresh=(--fresh)
        before=$(ls "$root/runs" 2>/dev/null || true)
        rc=0
        "$CAF_NODE" run "$wf" --root "$root" --config "$W/cfg.json" "${fresh[@]}" \
          >"$root/report-$n.md" 2>"$root/run-$n.log" || rc=$?
        id=$(new_run "$root" "$before")
        if [ "$rc" -ne 0 ]; then
          echo "note: $name ($cache) run $n, repeat $rep, exited $rc; the end of $root/run-$n.log:" >&2
          tail -5 "$root/run-$n.log" >&2
        fi
        if [ -z "$id" ] || [ ! -s "$root/runs/$id/report.json" ]; then
          echo "note: $name ($cache) run $n, repeat $rep, left no report.json" >&2
          continue
        fi
        "$PY" - "$root/runs/$id/report.json" "$wf" "$n" "$rc" "$cache" <<'PYEOF' >>"$W/accuracy.jsonl"
import json, sys
rep, wf, n, rc, cache = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
e = rep["estimate"]
counted = [t for t in e["tasks"] if "inside" in t]
below = sum(1 for t in counted if not t["inside"] and t["actual_cost_usd"] < t["cost_usd"]["low"])
ratios = [t["actual_cost_usd"] / t["cost_usd"]["expected"] for t in counted if t["cost_usd"]["expected"] > 0]
print(json.dumps({"workflow": wf["name"], "tasks": len(wf["tasks"]), "run": n, "cache": cache, "rc": rc,
                  "compared": e["compared"], "inside": e["inside"], "below": below,
                  "above": len(counted) - e["inside"] - below, "ratios": ratios,
                  "bases": sorted({t["basis"] for t in counted})}))
PYEOF
      done
    done
  done
done
stop_mock

echo "== estimate range vs actual cost: real CLI $("$CLI" --version | cut -d' ' -f1), mock API, $REPEATS repeat(s)"
echo "   run 1: no history (list price), both roots; run 2: --fresh, from run 1's history, the prompt cache warm / cold"
"$PY" - "$W/accuracy.jsonl" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = sorted({r["workflow"] for r in rows})
def cell(rs):
    c = sum(r["compared"] for r in rs)
    i = sum(r["inside"] for r in rs)
    b, a = sum(r["below"] for r in rs), sum(r["above"] for r in rs)
    ratios = [x for r in rs for x in r["ratios"]]
    pct = f"{100.0 * i / c:.0f}%" if c else "-"
    med = f"{statistics.median(ratios):.2f}" if ratios else "-"
    return f"{f'{i}/{c}':>7} {pct:>4} {b:>3} {a:>3} {med:>5}"
groups = [("run 1: no history", lambda r: r["run"] == 1),
          ("run 2: warm cache", lambda r: r["run"] == 2 and r["cache"] == "warm"),
          ("run 2: cold cache", lambda r: r["run"] == 2 and r["cache"] == "cold")]
w = len(cell(rows))
print(f"{'':<31} {'':>5}  " + "  ".join(f"{g:<{w}}" for g, _ in groups))
print(f"{'workflow':<31} {'tasks':>5}  " + "  ".join(f"{'inside':>7} {'%':>4} {'<lo':>3} {'>hi':>3} {'a/e':>5}" for _ in groups))
def line(label, tasks, rs):
    print(f"{label:<31} {tasks:>5}  " + "  ".join(cell([r for r in rs if f(r)]) for _, f in groups))
tasks = 0
for n in names:
    rs = [r for r in rows if r["workflow"] == n]
    tasks += rs[0]["tasks"]
    line(n, rs[0]["tasks"], rs)
line("total", tasks, rows)
print("   (inside: completed tasks whose actual cost is in [low, high], of those compared, summed over roots and")
print("    repeats; <lo / >hi: outside it, under low / over high; a/e: median of actual / expected cost)")
bad = [r for r in rows if r["rc"] != 0]
if bad:
    print(f"   {len(bad)} run(s) exited non-zero: "
          + ", ".join(f"{r['workflow']} ({r['cache']}) run {r['run']}: {r['rc']}" for r in bad))
PYEOF

# --- 2. the overshoot of a run budget, costs per call set by the mock -------------
cat >"$W/budget-cfg.json" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "api_key_env": "MARIE_KEY", "deadline_s": 120, "max_turns": 20, "slots": 1},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "api_key_env": "ANGA_KEY", "deadline_s": 120, "max_turns": 20, "slots": 1},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "api_key_env": "FABIEN_KEY", "deadline_s": 120, "max_turns": 20, "slots": 1}},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON
IN=12000 OUT=1000 TURNS=4 BUDGET_CALLS=10
# A call at Sonnet's list price ($3 in, $15 out per million tokens).
CALL=$("$PY" -c "print(($IN * 3 + $OUT * 15) / 1e6)")
overshoot_wf() { # overshoot_wf <out> shares|caps [least]: the workflow of a scenario
  "$PY" - "$1" "$2" "$TURNS" "$CALL" "$BUDGET_CALLS" "${3:-0}" <<'PYEOF'
import json, sys
out, kind, turns, call, calls, least = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
steps = [{"tool": "Glob", "input": {"pattern": "*"}}] * turns
tasks = [{"task_id": f"t{i}", "worker": ("marie", "anga", "fabien")[i % 3], "max_attempts": 1,
          "description": f"Task {i}: list the files, {turns} times.\nmock-script: " + json.dumps(steps)}
         for i in range(6)]
if kind == "shares":  # each task reserves an equal share of the budget
    budget = round(calls * call, 6)
else:  # t0..t2 reserve their own caps, t3..t5 find half their least left
    for t in tasks[:3]:
        t["budget_usd"] = round(1.5 * call, 6)
    budget = sum(t["budget_usd"] for t in tasks[:3]) + least / 2
wf = {"name": "overshoot", "synthesize": False, "tasks": tasks}
if budget > 0:
    wf["budget_usd"] = budget
json.dump(wf, open(out, "w"))
PYEOF
}
: >"$W/overshoot.jsonl"
for rep in $(seq 1 "$REPEATS"); do
  for scenario in shares/fixed shares/cache caps/fixed; do
    dir="$W/over-$rep-${scenario/\//-}"
    if [ "${scenario#*/}" = fixed ]; then
      start_mock "$dir" --input-tokens "$IN" --output-tokens "$OUT"
    else
      start_mock "$dir" --output-tokens "$OUT"
    fi
    mkdir -p "$dir/root"
    if [ "${scenario%/*}" = caps ]; then
      # What t3..t5 cost at the least: the low end of their estimate.
      overshoot_wf "$dir/wf.json" caps 0
      "$CAF_NODE" estimate "$dir/wf.json" --root "$dir/root" --config "$W/budget-cfg.json" --json >"$dir/estimate.json"
      least=$(jq '[.tasks[] | select(.task_id | test("t[345]")) | .cost_usd.low] | min' "$dir/estimate.json")
      overshoot_wf "$dir/wf.json" caps "$least"
    else
      overshoot_wf "$dir/wf.json" shares
    fi
    since=$("$PY" -c 'import time; print(time.time())')
    rc=0
    "$CAF_NODE" run "$dir/wf.json" --root "$dir/root" --config "$W/budget-cfg.json" \
      >"$dir/report.md" 2>"$dir/run.log" || rc=$?
    "$PY" - "$dir/requests.jsonl" "$since" "$dir/root" "$dir/wf.json" "$scenario" "$rc" <<'PYEOF' >>"$W/overshoot.jsonl"
import glob, json, re, sys
log, since, root, wf, scenario, rc = sys.argv[1], float(sys.argv[2]), sys.argv[3], json.load(open(sys.argv[4])), sys.argv[5], int(sys.argv[6])
# core/pricing.cpp's list prices (input, output per million; writes 1.25x, reads 0.1x input).
PRICES = [("opus-4-5", 5, 25), ("opus", 15, 75), ("sonnet", 3, 15), ("haiku-4-5", 1, 5),
          ("3-5-haiku", 0.8, 4), ("3-haiku", 0.25, 1.25), ("haiku", 1, 5)]
def cost(r):
    i, o = next(((i, o) for f, i, o in PRICES if f in (r.get("model") or "")), (15, 75))
    plain = r["input_tokens"] - r["cache_creation_input_tokens"]
    return (plain * i + r["cache_creation_input_tokens"] * i * 1.25
            + r["cache_read_input_tokens"] * i * 0.1 + r["output_tokens"] * o) / 1e6
calls = [cost(r) for r in map(json.loads, open(log))
         if r["method"] == "POST" and r["t"] >= since and r.get("status") == 200]
results = [json.load(open(f)) for f in glob.glob(root + "/results/*/*.json")]
spent = sum(r.get("cost_usd", 0) for r in results)
ended, past = {}, []
for r in results:
    k = r["status"] + (" " + r["error"]["kind"] if r.get("error") else "")
    ended[k] = ended.get(k, 0) + 1
    # The cap a task was held to, as the CLI or the gateway named it.
    m = re.search(r"maximum budget \(\$([0-9.]+)\)|of its \$([0-9.]+) budget", (r.get("error") or {}).get("message", ""))
    if m:
        past.append(r["cost_usd"] - float(m.group(1) or m.group(2)))
print(json.dumps({"scenario": scenario, "rc": rc, "budget": wf["budget_usd"], "spent": spent, "metered": sum(calls),
                  "calls": len(calls), "largest": max(calls, default=0), "ended": ended,
                  "past_cap": sum(1 for x in past if x > 1e-9), "capped": len(past),
                  "most_past_cap": max(past, default=0)}))
PYEOF
  done
done
stop_mock

echo
echo "== run budget overshoot: 6 independent tasks x $((TURNS + 1)) calls over 3 workers (1 slot each)"
echo "   shares: budget_usd of $BUDGET_CALLS calls, an equal share each; caps: t0..t2 own caps of 1.5 calls, the budget their"
echo "   sum and half what t3..t5 cost at the least. fixed: every call ${IN} uncached in + ${OUT} out = \$$(printf '%.4f' "$CALL");"
echo "   cache: ${OUT} out, the input as the mock's prompt cache models it"
"$PY" - "$W/overshoot.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'scenario':<13} {'budget':>7} {'spent':>7} {'overshoot':>9} {'%budget':>7} {'largest':>7} {'calls':>6} "
      f"{'past cap':>8} {'most':>7} {'metered':>7} {'n':>3}  tasks ended")
for r in rows:
    over = r["spent"] - r["budget"]
    ended = ", ".join(f"{v} {k}" for k, v in sorted(r["ended"].items()))
    print(f"{r['scenario']:<13} {r['budget']:>7.4f} {r['spent']:>7.4f} {over:>+9.4f} {100 * over / r['budget']:>+6.1f}% "
          f"{r['largest']:>7.4f} {over / r['largest'] if r['largest'] else 0:>+6.2f} "
          f"{str(r['past_cap']) + '/' + str(r['capped']):>8} {r['most_past_cap']:>+7.4f} {r['metered']:>7.4f} {r['calls']:>3}  "
          f"{ended} (exit {r['rc']})")
print("   (spent: the results' cost_usd; overshoot: spent - budget; largest: the largest single call, from the mock's")
print("    log at list price; calls: overshoot / largest; past cap: tasks that spent more than the cap they were held")
print("    to, of those stopped at one; most: the most one spent past it; metered: the mock's log; n: calls answered)")
PYEOF

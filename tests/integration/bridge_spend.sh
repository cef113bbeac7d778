#!/usr/bin/env bash
# The account's cap per day (limits.spend_per_day_usd) when the claude runs
# happen on worker nodes: the orchestrator's limiter books what each run cost
# (SETTLE "cost_usd") in the orchestrator's <root>/spend/, refuses the permit
# once the cap is reached (GRANT "capped_until_ms"), the node parks with
# spend_cap and the task waits in the orchestrator's tasks/. A restarted node
# is refused as well. The fake claude costs about $0.005 a run here.
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
LIVE=(--heartbeat-ms 100 --liveness 3)

root=$(fresh_root orch)
node=$root/node-marie
mkdir -p "$node"
CFG=$root/cfg.json
cat >"$CFG" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "deadline_s": 30, "max_attempts": 1}},
 "limits": {"spend_per_day_usd": 0.008},
 "gateway": {"enabled": false}}
JSON

start_orchestrator "$root" "$CFG" "${LIVE[@]}"

start_node() { # the claude executor on the fake CLI; waits until connected
  rm -f "$node/ready"
  env PATH="$SRC/tests/fake:$PATH" "$CAF_NODE" worker marie --connect "$W_EP" --root "$node" \
    --config "$CFG" "${LIVE[@]}" --ready-file "$node/ready" >>"$node/worker.log" 2>&1 &
  NODE=$!
  PIDS+=("$NODE")
  $AWAIT --timeout 30 "$node/ready" >/dev/null
}
drop() { # drop <id>: a task for marie on the orchestrator's root, written whole
  printf '{"task_id": "%s", "worker": "marie", "description": "Evaluate Emma (%s)."}' "$1" "$1" \
    >"$root/tasks/marie/.$1.tmp"
  mv "$root/tasks/marie/.$1.tmp" "$root/tasks/marie/$1.json"
}
fake_calls() { cat "$node"/auth-homes/marie/.claude/fake-calls/*.json 2>/dev/null || true; }
export -f fake_calls
export node

start_node
drop d1
$AWAIT --timeout 30 "$root/results/marie/d1.json"
drop d2
$AWAIT --timeout 30 "$root/results/marie/d2.json"
check "under the cap, two runs on the node complete" bash -c "
  jq -e '.status == \"complete\" and .cost_usd > 0.004' '$root/results/marie/d1.json' >/dev/null &&
  jq -e '.status == \"complete\" and .cost_usd > 0.004' '$root/results/marie/d2.json' >/dev/null"
check "... run by the fake CLI on the node (its calls are recorded there)" bash -c "
  fake_calls | grep -q '(d1)' && fake_calls | grep -q '(d2)'"
today=$(date -u +%F)
check "the orchestrator booked both runs' cost in spend/$today.json (SETTLE cost_usd)" \
  "$PY" -c "import json, sys; d = json.load(open('$root/spend/$today.json'))
cost = sum(json.load(open('$root/results/marie/%s.json' % t))['cost_usd'] for t in ('d1', 'd2'))
sys.exit(0 if d['runs'] == 2 and abs(d['usd'] - cost) < 1e-12 else 1)"
check "... and the node keeps no ledger of its own" [ ! -e "$node/spend" ]

drop d3
$AWAIT --timeout 30 "$root/tasks/marie/.parked"
check "past the cap the next task is not run: it waits in the orchestrator's tasks/" \
  bash -c "[ -e '$root/tasks/marie/d3.json' ] && [ ! -e '$root/results/marie/d3.json' ]"
check "... the worker is parked with spend_cap until the day turns" \
  grep -q "parked after spend_cap.*runs again from ${today%-*}-.*T00:00:00.000Z" "$root/tasks/marie/.parked"
check "... the node never started the CLI for it" bash -c "! fake_calls | grep -q '(d3)'"
check "... the node says why in its log" grep -q "spend_cap" "$node/worker.log"
"$CAF_NODE" status --connect "$P_EP" --json >"$root/status.json"
check "status over the wire shows the day's spend, the cap and until when it holds" \
  json_is "$root/status.json" \
  "j['spend_today']['runs'] == 2 and j['spend_today']['cap_usd'] == 0.008 and j['spend_today']['capped_until'].endswith('T00:00:00.000Z')"

# A node started afresh knows nothing of the cap: the orchestrator's limiter
# refuses its permits all the same.
kill -TERM "$NODE"
await_exit "$NODE"
check "the node stops cleanly" [ "$rc" -eq 0 ]
rm -f "$root/tasks/marie/.parked" # as `caf-node unpark marie` would
start_node
drop d4
await_change 30 create "$root/tasks/marie" test -e "$root/tasks/marie/.parked"
check "a restarted node is refused too: nothing more runs, nothing more is spent" bash -c "
  [ -e '$root/tasks/marie/d4.json' ] && [ ! -e '$root/results/marie/d4.json' ] &&
  [ ! -e '$root/results/marie/d3.json' ] && ! fake_calls | grep -q '(d[34])'"
check "... the ledger is unchanged" json_is "$root/spend/$today.json" "j['runs'] == 2"

kill -TERM "$NODE" "$ORCH"
await_exit "$ORCH"
check "the orchestrator stops cleanly" [ "$rc" -eq 0 ]
finish

#!/usr/bin/env bash
# The container topology with real network separation: the orchestrator, each
# worker node and a Python producer in network namespaces of their own,
# joined by veth pairs on addresses of our own (10.231.<n>.0/30), as
# containers on a bridge network would be. Needs root (ip netns).
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
CFG="$SRC/config/troupe.json"
PRODUCERS="$SRC/scripts/producers"
TAG="tr$$"
NS_O="$TAG-orch"
NODES=(marie anga fabien producer)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in "$NS_O" "${NODES[@]/#/$TAG-}"; do "${IP[@]}" netns del "$n" 2>/dev/null || true; done
  at_exit
}
trap cleanup EXIT

if ! "${IP[@]}" netns add "$NS_O" 2>"$WORK/netns.err"; then
  fail "cannot create network namespaces (root needed): $(cat "$WORK/netns.err")"
  finish
fi
"${IP[@]}" -n "$NS_O" link set lo up
for i in "${!NODES[@]}"; do
  ns="$TAG-${NODES[$i]}"; n=$((i + 1))
  "${IP[@]}" netns add "$ns"
  "${IP[@]}" -n "$ns" link set lo up
  veth_pair "$NS_O" "${TAG}o$n" "10.231.$n.1/30" "$ns" "${TAG}n$n" "10.231.$n.2/30"
done
pass "namespaces: orchestrator, marie, anga, fabien, producer; one veth pair each"
check "a worker namespace cannot reach the orchestrator over loopback (separate stacks)" \
  bash -c "! ${IP[*]} netns exec '$TAG-marie' '$PY' -c 'import socket; socket.create_connection((\"127.0.0.1\", 5556), 1)' 2>/dev/null"

root=$(fresh_root netns)
"${IP[@]}" netns exec "$NS_O" "$CAF_NODE" orchestrator --root "$root" --config "$CFG" \
  --workers 'tcp://*:5555' --producers 'tcp://*:5556' --events 'tcp://*:5557' \
  --heartbeat-ms 200 --ready-file "$root/orch.ready" >"$root/orch.log" 2>&1 &
PIDS+=("$!")
$AWAIT --timeout 30 "$root/orch.ready" || tail "$root/orch.log"
for i in 0 1 2; do
  w=${NODES[$i]}; n=$((i + 1)); dir="$root/node-$w"
  mkdir -p "$dir"
  "${IP[@]}" netns exec "$TAG-$w" "$CAF_NODE" worker "$w" --connect "tcp://10.231.$n.1:5555" --root "$dir" \
    --config "$CFG" --executor sim --sim-latency-ms 20 --heartbeat-ms 200 \
    --ready-file "$dir/ready" >"$dir/worker.log" 2>&1 &
  PIDS+=("$!")
done
check "each worker node reaches the orchestrator across its veth" \
  $AWAIT --timeout 30 "$root/node-marie/ready" "$root/node-anga/ready" "$root/node-fabien/ready"
check "the producer, in its own namespace, submits a workflow and gets its report" bash -c "
  ${IP[*]} netns exec '$TAG-producer' '$PY' '$PRODUCERS/submit_workflow.py' '$SRC/workflows/sequential-workflow.json' \
    --connect tcp://10.231.4.1:5556 --timeout-s 60 >'$root/report.json' 2>'$root/producer.err'"
check "... every task complete" json_is "$root/report.json" "j['status'] == 'complete' and len(j['tasks']) == 3"
check "... results on the orchestrator only" bash -c "
  [ \$(ls '$root'/results/*/*.json | wc -l) -eq 3 ] && [ -z \"\$(ls '$root'/node-*/results 2>/dev/null)\" ]"
check "the orchestrator saw each node from its own address" bash -c "
  ${IP[*]} netns exec '$TAG-producer' '$CAF_NODE' status --connect tcp://10.231.4.1:5556 --json |
  jq_true '[.nodes[].worker] | sort == [\"anga\", \"fabien\", \"marie\"]'"
finish

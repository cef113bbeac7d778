#!/usr/bin/env bash
# The shared queue across hosts: Redis and two orchestrators (serve, the
# simulator) in network namespaces of their own, joined by veth pairs on
# addresses of our own (10.232.<n>.0/30). In the middle of a 600-task
# batch, orchestrator a is cut off from Redis (its link goes down): it stops
# dispatching, b takes over what a held and carries on, and every task ends
# with one result. When the link comes back, a writes the results of the
# tasks it imported, whoever ran them. Needs root (ip netns).
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
TAG="rq$$"
NS_R="$TAG-redis"
cleanup() {
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
  for n in "$NS_R" "$TAG-a" "$TAG-b"; do "${IP[@]}" netns del "$n" 2>/dev/null || true; done
  at_exit
}
trap cleanup EXIT

if ! "${IP[@]}" netns add "$NS_R" 2>"$WORK/netns.err"; then
  fail "cannot create network namespaces (root needed): $(cat "$WORK/netns.err")"
  finish
fi
"${IP[@]}" -n "$NS_R" link set lo up
n=0
for o in a b; do
  n=$((n + 1)); ns="$TAG-$o"
  "${IP[@]}" netns add "$ns"
  "${IP[@]}" -n "$ns" link set lo up
  veth_pair "$NS_R" "${TAG}r$n" "10.232.$n.1/30" "$ns" "${TAG}$o" "10.232.$n.2/30"
done
pass "namespaces: redis, orchestrators a and b; one veth pair each"

dir=$(fresh_root redis-netns)
REDIS_WRAP=("${IP[@]}" netns exec "$NS_R")
REDIS_BIND="10.232.1.1 10.232.2.1" start_redis "$dir" 6379 --protected-mode no
# rcli <namespace> <command...>: redis-cli from that namespace, to its side of Redis.
rcli() {
  local ns=$1 host=10.232.1.1; shift
  [ "$ns" = "$TAG-b" ] && host=10.232.2.1
  "${IP[@]}" netns exec "$ns" redis-cli -h "$host" -p 6379 "$@"
}
results_kept() { rcli "$NS_R" HLEN troupe:results; }
check "orchestrator a's namespace reaches Redis across its veth, and not over loopback" bash -c "
  ${IP[*]} netns exec '$TAG-a' redis-cli -h 10.232.1.1 -p 6379 PING | grep -q PONG &&
  ! ${IP[*]} netns exec '$TAG-a' redis-cli -h 127.0.0.1 -p 6379 PING >/dev/null 2>&1"

LEASE=2
n=0
for o in a b; do
  n=$((n + 1))
  mkdir -p "$dir/$o"
  "${IP[@]}" netns exec "$TAG-$o" "$CAF_NODE" serve --root "$dir/$o" --config "$SRC/config/troupe.json" \
    --executor sim --sim-latency-ms 200 --queue "redis://10.232.$n.1:6379" --lease-s "$LEASE" \
    --ready-file "$dir/$o/ready" 2>"$dir/$o/serve.log" &
  PIDS+=("$!")
done
$AWAIT --timeout 30 "$dir/a/ready" "$dir/b/ready" >/dev/null
# 300 tasks into each root, over the three workers.
"$PY" - "$dir" >"$dir/expected" <<'PYEOF'
import json, os, sys
for o in "ab":
    for i in range(300):
        w = ("marie", "anga", "fabien")[i % 3]
        t = {"task_id": f"{o}{i:03d}", "worker": w, "description": "across namespaces"}
        path = f"{sys.argv[1]}/{o}/tasks/{w}/{t['task_id']}.json"
        with open(path + ".tmp", "w") as f:
            json.dump(t, f)
        os.rename(path + ".tmp", path)
        print(f"{sys.argv[1]}/{o}/results/{w}/{t['task_id']}.json")
PYEOF
$AWAIT --timeout 60 "$dir/a/results/marie" 10 >/dev/null
# Every file a had is in the queue (a file goes once it is imported).
await_change 30 modify "$dir/a/serve.log" bash -c "[ -z \"\$(find '$dir/a/tasks' -name '*.json')\" ]"
"${IP[@]}" -n "$TAG-a" link set "${TAG}a" down
cut_at=$(date +%s.%N)
check "the batch was cut mid-way ($(results_kept) of 600 results)" [ "$(results_kept)" -lt 500 ]
check "a notices that Redis is gone" \
  await_change 30 modify "$dir/a/serve.log" grep -q "redis queue: " "$dir/a/serve.log"
await_change 60 modify "$dir/b/serve.log" grep -q "taken over from a quiet orchestrator" "$dir/b/serve.log"
took=$("$PY" -c "import time,sys; print(f'{time.time() - float(sys.argv[1]):.2f}')" "$cut_at")
check "b takes over what a held, within two leases of the cut (${took} s, lease $LEASE s)" \
  "$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 2 * $LEASE else 1)" "$took"
all_kept() { [ "$(results_kept)" -eq 600 ]; }
check "b carries on: every task of the batch gets its one result" \
  await_change 120 modify "$dir/b/serve.log" all_kept
# What a's orchestrator accepted ("queued") before and after a noticed the cut.
before=$(awk '/redis queue: /{exit} / queued /' "$dir/a/serve.log" | wc -l)
after=$(awk '/redis queue: /{cut=1; next} cut && / queued /' "$dir/a/serve.log" | wc -l)
check "a stopped dispatching once it noticed ($before tasks queued before, $after after)" \
  bash -c "[ $before -gt 0 ] && [ $after -eq 0 ]"
check "nothing is left queued, held or waiting in Redis" [ "$(rcli "$NS_R" HLEN troupe:known)" -eq 0 ]
# The link comes back: a writes the results of what it imported.
"${IP[@]}" -n "$TAG-a" link set "${TAG}a" up
check "a reconnects" await_change 30 modify "$dir/a/serve.log" grep -q "connected again" "$dir/a/serve.log"
# shellcheck disable=SC2046 # one path a line, no spaces
check "every result comes back to the root that imported its task" \
  $AWAIT --timeout 60 $(cat "$dir/expected")
rcli "$NS_R" HGETALL troupe:results >"$dir/kept.txt"
check "each result file is the one the queue kept (0 duplicates)" "$PY" - "$dir" <<'PYEOF'
import json, sys, glob
d = sys.argv[1]
lines = open(f"{d}/kept.txt").read().splitlines()
kept = {lines[i]: json.loads(lines[i + 1]) for i in range(0, len(lines), 2)}
files = glob.glob(f"{d}/[ab]/results/*/*.json")
bad = [f for f in files if json.load(open(f)) != kept[json.load(open(f))["task_id"]]]
print(f"# {len(files)} result files, {len(bad)} differ from the queue's")
sys.exit(1 if bad or len(kept) != 600 else 0)
PYEOF
finish

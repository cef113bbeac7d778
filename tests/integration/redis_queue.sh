#!/usr/bin/env bash
# The shared queue on a real redis-server (docs/QUEUE.md): two serves on two
# roots share one Redis; kill -9 of one in the middle of a 1,000-task batch
# loses nothing and writes no second result, and the other takes over within
# two lease periods; kill -9 and restart of redis-server with appendfsync
# always loses nothing; bad --queue values are refused at start.
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
RCLI() { redis-cli -p "$REDIS_PORT" "$@"; }

# start_node <root> [options]: serve on the shared queue; sets NODE.
start_node() {
  local root=$1; shift
  mkdir -p "$root"
  rm -f "$root/ready"
  "$CAF_NODE" serve --root "$root" --config "$SRC/config/troupe.json" --executor sim \
    --queue "redis://127.0.0.1:$REDIS_PORT" --ready-file "$root/ready" "$@" 2>>"$root/serve.log" &
  NODE=$!
  PIDS+=("$NODE")
  $AWAIT --timeout 30 "$root/ready" >/dev/null
}
# drop_batch <root> <n> <prefix>: n tasks over the three workers, each tenth
# depending on the one before it (of another worker).
drop_batch() {
  "$PY" - "$@" <<'PYEOF'
import json, os, sys
root, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ws = ("marie", "anga", "fabien")
for i in range(n):
    w = ws[i % 3]
    t = {"task_id": f"{prefix}{i:04d}", "worker": w, "description": "shared queue"}
    if i % 10 == 9:
        t["dependencies"] = [f"{prefix}{i - 1:04d}"]
    path = f"{root}/tasks/{w}/{t['task_id']}.json"
    with open(path + ".tmp", "w") as f:
        json.dump(t, f)
    os.rename(path + ".tmp", path)
PYEOF
}
# results_in <root>: result files under it.
results_in() { find "$1/results" -name '*.json' | wc -l; }

# --- bad --queue values: a clear refusal, exit 2 ------------------------------
root=$(fresh_root refused)
rc=0; "$CAF_NODE" serve --root "$root/x" --config "$SRC/config/troupe.json" --executor sim --queue "redis://u:secret@127.0.0.1:1" \
  2>"$root/pw.err" || rc=$?
check "a password in the queue URL is refused (exit 2)" [ "$rc" -eq 2 ]
check "... naming where it goes, without repeating it" bash -c \
  "grep -q REDISCLI_AUTH '$root/pw.err' && ! grep -q secret '$root/pw.err'"
port=$(free_port)
rc=0; "$CAF_NODE" serve --root "$root/y" --config "$SRC/config/troupe.json" --executor sim --queue "redis://127.0.0.1:$port" \
  2>"$root/down.err" || rc=$?
check "an unreachable Redis is refused at start (exit 2), naming it" bash -c \
  "[ $rc -eq 2 ] && grep -q '127.0.0.1:$port' '$root/down.err'"
rc=0; "$CAF_NODE" serve --root "$root/z" --config "$SRC/config/troupe.json" --executor sim --queue "rediss://127.0.0.1:$port" \
  2>"$root/tls.err" || rc=$?
check "rediss:// is refused with the reason" bash -c "[ $rc -eq 2 ] && grep -q TLS '$root/tls.err'"

# --- two orchestrators, one killed mid-batch ------------------------------------
dir=$(fresh_root shared)
start_redis "$dir"
LEASE=2
start_node "$dir/a" --sim-latency-ms 100 --lease-s "$LEASE"
A=$NODE
start_node "$dir/b" --sim-latency-ms 100 --lease-s "$LEASE"
B=$NODE
drop_batch "$dir/a" 1000 k
# Once some results exist, in the middle of the batch.
$AWAIT --timeout 60 "$dir/a/results/marie" 40 >/dev/null
kill -9 "$A"
KILLED=$A
killed_at=$(date +%s.%N)
held=$(RCLI XPENDING troupe:tasks:marie:medium troupe | head -1)
check "the batch was cut mid-way ($(RCLI HLEN troupe:results) of 1000 done, $held marie tasks held)" \
  [ "$(RCLI HLEN troupe:results)" -lt 1000 ]
await_change 30 modify "$dir/b/serve.log" grep -q "taken over from a quiet orchestrator" "$dir/b/serve.log"
took=$("$PY" -c "import time,sys; print(f'{time.time() - float(sys.argv[1]):.2f}')" "$killed_at")
check "the other orchestrator takes over what the killed one held, within two leases (${took} s, lease $LEASE s)" \
  "$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 2 * $LEASE else 1)" "$took"
# a comes back: its imported tasks' results, whoever ran them, land in its root.
start_node "$dir/a" --sim-latency-ms 100 --lease-s "$LEASE"
A=$NODE
$AWAIT --timeout 90 "$dir/a/results/marie" 334 >/dev/null && $AWAIT --timeout 60 "$dir/a/results/anga" 333 >/dev/null \
  && $AWAIT --timeout 60 "$dir/a/results/fabien" 333 >/dev/null
check "0 lost: the queue holds 1,000 results ($(RCLI HLEN troupe:results); pending marie $(RCLI XPENDING troupe:tasks:marie:medium troupe | head -1), waiting $(RCLI SCARD troupe:waiting), known $(RCLI HLEN troupe:known))" [ "$(RCLI HLEN troupe:results)" -eq 1000 ]
check "... and the restarted root has all 1,000 result files" [ "$(results_in "$dir/a")" -eq 1000 ]
check "... every one complete, and each dependent was handed its dependency's result" "$PY" - "$dir/a" <<'PYEOF'
import glob, json, sys
rs = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/results/*/*.json")]
deps = [r for r in rs if int(r["task_id"][1:]) % 10 == 9]
ok = all(r["status"] == "complete" for r in rs) and len(deps) == 100 and \
     all("built on 1 dependency result(s)" in r["findings"] for r in deps)
sys.exit(0 if ok else 1)
PYEOF
# 0 duplicate: the file in a's root is the one result the queue kept (same
# completion time), and no file was written twice (b only wrote what it ran).
same=$("$PY" - "$dir/a" "$REDIS_PORT" <<'PYEOF'
import glob, json, subprocess, sys
root, port = sys.argv[1], sys.argv[2]
kept = subprocess.run(["redis-cli", "-p", port, "--no-raw", "HGETALL", "troupe:results"],
                      capture_output=True, text=True).stdout
out = subprocess.run(["redis-cli", "-p", port, "HGETALL", "troupe:results"],
                     capture_output=True, text=True).stdout.split("\n")
pairs = dict(zip(out[0::2], out[1::2]))
n = 0
for f in glob.glob(root + "/results/*/*.json"):
    j = json.load(open(f))
    k = json.loads(pairs[j["task_id"]])
    n += j["completed_at"] == k["completed_at"] and j["worker"] == k["worker"]
print(n)
PYEOF
)
check "0 duplicate: each result file is the one result the queue kept ($same of 1000)" [ "$same" -eq 1000 ]
check "... and both orchestrators ran tasks (b: $(results_in "$dir/b"))" [ "$(results_in "$dir/b")" -gt 0 ]
check "nothing left in the streams or waiting" bash -c \
  "[ \"\$(redis-cli -p $REDIS_PORT SCARD troupe:waiting)\" -eq 0 ] && [ \"\$(redis-cli -p $REDIS_PORT XLEN troupe:tasks:marie:medium)\" -eq 0 ]"
"$CAF_NODE" status --root "$dir/a" --config "$SRC/config/troupe.json" --queue "redis://127.0.0.1:$REDIS_PORT" \
  --json >"$dir/status.json"
check "status --queue shows the cluster: the live orchestrators, the killed one holding nothing, per worker" \
  "$PY" - "$dir/status.json" "$KILLED" "$A" "$B" <<'PYEOF'
import json, sys
q = json.load(open(sys.argv[1]))["queue"]
by_pid = {o["name"].split(":")[1]: o for o in q["orchestrators"]}
killed, a, b = sys.argv[2:5]
ok = (q["results"] == 1000 and set(by_pid) == {killed, a, b} and by_pid[killed]["held"] == 0
      and by_pid[a]["active"] and by_pid[b]["active"]
      and set(q["workers"]) == {"marie", "anga", "fabien"} and q["workers"]["marie"]["queued"] == 0)
sys.exit(0 if ok else 1)
PYEOF
"$CAF_NODE" status --root "$dir/a" --config "$SRC/config/troupe.json" --queue "redis://127.0.0.1:$REDIS_PORT" >"$dir/status.txt"
check "... and in words" \
  grep -q "shared queue redis://127.0.0.1:$REDIS_PORT (prefix troupe:): 1000 result(s)" "$dir/status.txt"
kill -TERM "$A" "$B"
await_exit "$A"; check "serve on the shared queue exits 0 on SIGTERM" [ "$rc" -eq 0 ]
await_exit "$B"

# --- the orchestrator role with a worker node: a SUBMIT goes through the queue -
mkdir -p "$dir/o"
start_orchestrator "$dir/o" "$SRC/config/troupe.json" --queue "redis://127.0.0.1:$REDIS_PORT"
"$CAF_NODE" worker marie --connect "$W_EP" --executor sim --config "$SRC/config/troupe.json" 2>>"$dir/o/worker.log" &
PIDS+=("$!")
printf '{"task_id": "via-wire", "worker": "marie", "description": "submitted"}' >"$dir/o/t.json"
rc=0; timeout 30 "$CAF_NODE" submit "$dir/o/t.json" --wait --connect "$P_EP" >"$dir/o/answer.json" 2>>"$dir/o/submit.log" || rc=$?
check "submit --wait to an orchestrator on the queue, run by a worker node: the result (exit $rc)" \
  bash -c "[ $rc -eq 0 ] && jq -e '.status == \"complete\" and .task_id == \"via-wire\"' '$dir/o/answer.json' >/dev/null"
check "... and it is the queue's one result" bash -c \
  "redis-cli -p $REDIS_PORT HGET troupe:results via-wire | jq -e '.task_id == \"via-wire\"' >/dev/null"
# A second orchestrator with no worker node claims nothing: what is dropped
# into its root runs on the first one's node, and comes back to its root.
O1=$ORCH
mkdir -p "$dir/o2"
start_orchestrator "$dir/o2" "$SRC/config/troupe.json" --queue "redis://127.0.0.1:$REDIS_PORT"
for i in $(seq 1 20); do
  printf '{"task_id": "nodeless-%d", "worker": "marie", "description": "x"}' "$i" >"$dir/o2/tasks/marie/n$i.tmp"
  mv "$dir/o2/tasks/marie/n$i.tmp" "$dir/o2/tasks/marie/nodeless-$i.json"
done
$AWAIT --timeout 30 "$dir/o2/results/marie" 20 >/dev/null
check "an orchestrator without nodes: its 20 dropped tasks come back to its root" [ "$(results_in "$dir/o2")" -eq 20 ]
check "... all run by the node of the other orchestrator (it wrote them too)" \
  [ "$(ls "$dir/o/results/marie" | grep -c '^nodeless-')" -eq 20 ]
# --- a mirror: --queue-results all writes every result of the queue ----------
mkdir -p "$dir/m"
start_orchestrator "$dir/m" "$SRC/config/troupe.json" --queue "redis://127.0.0.1:$REDIS_PORT" --queue-results all
printf '{"task_id": "mirrored", "worker": "marie", "description": "x"}' >"$dir/o/tasks/marie/m.tmp"
mv "$dir/o/tasks/marie/m.tmp" "$dir/o/tasks/marie/mirrored.json"
$AWAIT --timeout 20 "$dir/m/results/marie/mirrored.json" >/dev/null
check "--queue-results all: a root mirrors a result of a task dropped into another root" \
  [ -f "$dir/m/results/marie/mirrored.json" ]
check "... without it, a root writes only its own (o2 has no copy)" [ ! -e "$dir/o2/results/marie/mirrored.json" ]
rc=0; "$CAF_NODE" serve --root "$dir/bad" --config "$SRC/config/troupe.json" --executor sim \
  --queue "redis://127.0.0.1:$REDIS_PORT" --queue-results some 2>"$dir/bad.err" || rc=$?
check "--queue-results some is refused (exit 2), naming the choices" bash -c "[ $rc -eq 2 ] && grep -q mine '$dir/bad.err'"

# --- a worker node that fails over between orchestrators ----------------------
mkdir -p "$dir/p1" "$dir/p2"
start_orchestrator "$dir/p1" "$SRC/config/troupe.json" --queue "redis://127.0.0.1:$REDIS_PORT" --queue-prefix fo:
P1=$ORCH; P1_W=$W_EP
start_orchestrator "$dir/p2" "$SRC/config/troupe.json" --queue "redis://127.0.0.1:$REDIS_PORT" --queue-prefix fo:
P2_W=$W_EP
"$CAF_NODE" worker marie --connect "$P1_W,$P2_W" --executor sim --config "$SRC/config/troupe.json" \
  2>>"$dir/p2/failover-node.log" &
PIDS+=("$!")
printf '{"task_id": "before", "worker": "marie", "description": "x"}' >"$dir/p1/tasks/marie/before.json"
$AWAIT --timeout 20 "$dir/p1/results/marie/before.json" >/dev/null
check "a node given two orchestrators is served by the first" [ -f "$dir/p1/results/marie/before.json" ]
kill -9 "$P1"
for i in 1 2 3; do
  printf '{"task_id": "after-%d", "worker": "marie", "description": "x"}' "$i" >"$dir/p2/tasks/marie/a$i.tmp"
  mv "$dir/p2/tasks/marie/a$i.tmp" "$dir/p2/tasks/marie/after-$i.json"
done
$AWAIT --timeout 30 "$dir/p2/results/marie" 3 >/dev/null
check "the first killed (kill -9), the node moves to the second and runs what is dropped there" \
  [ "$(ls "$dir/p2/results/marie" | grep -c '^after-')" -eq 3 ]
check "... as its log says" grep -q "connected to the orchestrator at $P2_W" "$dir/p2/failover-node.log"
kill -9 "$REDIS_PID"

# --- kill -9 and restart of redis-server with appendfsync always -------------
dir=$(fresh_root durable)
start_redis "$dir" "" --appendonly yes --appendfsync always
start_node "$dir/a" --sim-latency-ms 50 --lease-s 2
A=$NODE
drop_batch "$dir/a" 300 d
$AWAIT --timeout 60 "$dir/a/results/marie" 20 >/dev/null
kill -9 "$REDIS_PID"
before=$(results_in "$dir/a")
# Dropped while Redis is down: kept in tasks/ until the node's import
# connection is back.
drop_batch "$dir/a" 30 late
start_redis "$dir" "$REDIS_PORT" --appendonly yes --appendfsync always
$AWAIT --timeout 90 "$dir/a/results/marie" 110 >/dev/null && $AWAIT --timeout 60 "$dir/a/results/anga" 110 >/dev/null \
  && $AWAIT --timeout 60 "$dir/a/results/fabien" 110 >/dev/null
check "Redis killed (kill -9) with $before of 300 done, and started again: 0 lost (300 + 30 dropped while it was down, in the queue)" \
  [ "$(RCLI HLEN troupe:results)" -eq 330 ]
check "... 330 result files in the root, none left in tasks/" bash -c \
  "[ $(results_in "$dir/a") -eq 330 ] && [ -z \"\$(find '$dir/a/tasks' -name '*.json')\" ]"
check "... and the node said it reconnected" grep -q "connected again" "$dir/a/serve.log"
finish

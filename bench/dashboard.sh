#!/usr/bin/env bash
# The HTTP endpoint under a 10,000-task run of `serve` on the simulator at
# 0 ms (tmpfs): (1) throughput with --http and no page open, beside the same
# run without --http (the floor: the endpoint must cost nothing while no one
# watches); (2) the event rate an open event stream receives; (3) the
# dashboard's load in headless Chromium once the run is over: until its DAG
# shows every task.
#
#   bench/dashboard.sh <build> [tasks]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-10000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
WORK=$(mktemp -d /dev/shm/troupe-dash.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

# run_once <name> [serve args]: drops N tasks over 3 workers; the seconds
# from the first drop to the last result go to $WORK/<name>.s. (Not in a
# $(...): serve, in the background, would hold its output open.)
run_once() {
  local name=$1 root=$WORK/$1
  shift
  mkdir -p "$root"
  "$BUILD/caf-node" serve --root "$root" --config "$SRC/config/troupe.json" --executor sim \
    --sim-latency-ms 0 --ready-file "$root/ready" "$@" >/dev/null 2>"$root/serve.log" &
  SERVE=$!
  PIDS+=("$SERVE")
  "$PY" "$SRC/tests/integration/await_results.py" --timeout 30 "$root/ready" >/dev/null
  "$PY" - "$root" "$N" >"$WORK/$name.s" <<'PY'
import os, sys, time
root, n = sys.argv[1], int(sys.argv[2])
workers = ["marie", "anga", "fabien"]
t0 = time.time()
for i in range(n):
    w = workers[i % 3]
    tmp = f"{root}/tasks/{w}/.t{i}.tmp"
    with open(tmp, "w") as f:
        f.write('{"task_id": "t%d", "worker": "%s", "description": "Task %d."}' % (i, w, i))
    os.rename(tmp, f"{root}/tasks/{w}/t{i}.json")
# The harness polls the result count: the run is what is measured.
while sum(len(os.listdir(f"{root}/results/{w}")) for w in workers) < n:
    time.sleep(0.02)
print("%.2f" % (time.time() - t0))
PY
}

run_once plain
kill -TERM "$SERVE"; wait "$SERVE" || true
run_once http --http 127.0.0.1:0
kill -TERM "$SERVE"; wait "$SERVE" || true
floor_s=$(cat "$WORK/plain.s") http_s=$(cat "$WORK/http.s")

# The event rate a reader gets: a stream open from the start of a run.
root=$WORK/stream
mkdir -p "$root"
"$BUILD/caf-node" serve --root "$root" --config "$SRC/config/troupe.json" --executor sim \
  --sim-latency-ms 0 --http 127.0.0.1:0 --ready-file "$root/ready" >/dev/null 2>"$root/serve.log" &
SERVE=$!
PIDS+=("$SERVE")
"$PY" "$SRC/tests/integration/await_results.py" --timeout 30 "$root/ready" >/dev/null
URL=$(jq -r .http "$root/ready")
"$PY" - "$URL" "$root" "$N" "$SRC" <<'PY' >"$WORK/stream.txt"
import os, sys, threading, time, urllib.request
url, root, n, src = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
resp = urllib.request.urlopen(url + "/api/events", timeout=120)
def drop():
    for i in range(n):
        w = ["marie", "anga", "fabien"][i % 3]
        tmp = f"{root}/tasks/{w}/.t{i}.tmp"
        with open(tmp, "w") as f:
            f.write('{"task_id": "t%d", "worker": "%s", "description": "Task %d."}' % (i, w, i))
        os.rename(tmp, f"{root}/tasks/{w}/t{i}.json")
threading.Thread(target=drop).start()
events = completes = 0
first = last = None
for raw in resp:
    if raw.startswith(b"data: "):
        events += 1
        now = time.time()
        first = first or now
        last = now
        if b'"event":"complete"' in raw:
            completes += 1
            if completes == n:
                break
print("%d %.3f" % (events, last - first))
PY
read -r events span <"$WORK/stream.txt"

# The page: from navigation to a DAG with every task, and its size.
"$PY" - "$URL" "$WORK/chrome" "$N" "$SRC" <<'PY' >"$WORK/page.txt"
import sys, time
sys.path.insert(0, sys.argv[4] + "/tests/integration")
from cdp import Browser
url, profile, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = Browser(profile)
try:
    t0 = time.time()
    b.open(url + "/")
    b.wait(f"document.querySelectorAll('g.task').length >= {n}", timeout=300)
    loaded = time.time() - t0
    t1 = time.time()
    b.eval("document.querySelector('g.task').dispatchEvent(new MouseEvent('click'))")
    b.wait("!!document.querySelector('#task tr[data-field=state]')")
    click = time.time() - t1
    print("%.2f %.3f" % (loaded, click))
finally:
    b.close()
PY
read -r load click <"$WORK/page.txt"
kill -TERM "$SERVE"; wait "$SERVE" || true

"$PY" - "$N" "$floor_s" "$http_s" "$events" "$span" "$load" "$click" <<'PY'
import sys
n, floor_s, http_s, events, span, load, click = sys.argv[1:]
n = int(n)
print(f"serve, {n} tasks, simulator at 0 ms, tmpfs: {n/float(http_s):,.0f} tasks/s with --http and no page open; "
      f"floor (no --http, same run): {n/float(floor_s):,.0f} tasks/s")
print(f"event stream: {int(events):,} events in {float(span):.2f} s = {int(events)/max(float(span), 1e-9):,.0f} events/s to one reader")
print(f"dashboard: {load} s from navigation to a DAG of all {n:,} tasks; a click on a task answers in {float(click)*1000:.0f} ms")
PY

#!/usr/bin/env bash
# The HTTP endpoint of `serve` (--http), over real sockets on loopback, on
# the simulator: the JSON API (status, runs, one run, one task), the event
# stream (Server-Sent Events) live and resumed with Last-Event-ID, the
# actions as POSTs (cancel, approve, reject, unpark), and the bearer token
# that binding beyond loopback requires.
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"

root=$(fresh_root web)
cfg=$root/cfg.json
cat >"$cfg" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md"},
             "anga": {"prompt": "$SRC/prompts/ANGA.md", "approve": true}}}
JSON
serve() { # serve <root> [args...]: in the background, sets SERVE and URL
  local r=$1; shift
  rm -f "$r/ready"
  "$CAF_NODE" serve --root "$r" --config "$cfg" --executor sim --sim-latency-ms "${LATENCY:-400}" \
    --ready-file "$r/ready" "$@" 2>>"$r/serve.log" &
  SERVE=$!
  PIDS+=("$SERVE")
  $AWAIT --timeout 30 "$r/ready" >/dev/null
  URL=$(jq -r .http "$r/ready")
}
drop() { # drop <root> <worker> <id>
  printf '{"task_id": "%s", "worker": "%s", "description": "Task %s."}' "$3" "$2" "$3" \
    >"$1/tasks/$2/.$3.tmp"
  mv "$1/tasks/$2/.$3.tmp" "$1/tasks/$2/$3.json"
}

serve "$root" --http 127.0.0.1:0
check "serve --http writes its URL in the ready file" bash -c "[[ '$URL' == http://127.0.0.1:* ]]"

# A client of the stream from the start; it prints each event's id and kind.
"$PY" "$SRC/tests/integration/sse_client.py" --url "$URL/api/events" --until-count 6 \
  --ready-file "$root/sse.ready" >"$root/sse1.txt" &
SSE=$!
PIDS+=("$SSE")
$AWAIT --timeout 10 "$root/sse.ready" >/dev/null
drop "$root" marie m1
$AWAIT --timeout 30 "$root/results/marie/m1.json"
await_exit "$SSE" 20
check "the stream sent m1's events live: queued, running, complete" bash -c "
  grep -q ' queued marie/m1$' '$root/sse1.txt' && grep -q ' running marie/m1$' '$root/sse1.txt' &&
  grep -q ' complete marie/m1$' '$root/sse1.txt'"
last=$(awk '/ complete marie\/m1$/ {print $1}' "$root/sse1.txt")

drop "$root" marie m2
$AWAIT --timeout 30 "$root/results/marie/m2.json"
"$PY" "$SRC/tests/integration/sse_client.py" --url "$URL/api/events" --last-event-id "$last" \
  --until-event complete --ready-file "$root/sse2.ready" >"$root/sse2.txt"
check "resumed with Last-Event-ID, it sends only what came after: m2, not m1" bash -c "
  grep -q ' complete marie/m2$' '$root/sse2.txt' && ! grep -q 'marie/m1$' '$root/sse2.txt' &&
  [ \$(head -1 '$root/sse2.txt' | cut -d' ' -f1) -gt $last ]"

# A new reader starts from now: the state before is the API's.
"$PY" "$SRC/tests/integration/sse_client.py" --url "$URL/api/events" --until-event complete \
  --ready-file "$root/sse4.ready" >"$root/sse4.txt" &
SSE=$!
PIDS+=("$SSE")
$AWAIT --timeout 10 "$root/sse4.ready" >/dev/null
drop "$root" marie m3
await_exit "$SSE" 20
check "a new reader gets the events from when it connected: m3's, none of m1's or m2's" bash -c "
  grep -q ' complete marie/m3$' '$root/sse4.txt' && ! grep -q 'marie/m[12]$' '$root/sse4.txt'"
$AWAIT --timeout 30 "$root/results/marie/m3.json"

"$PY" - "$URL" "$root" >"$root/api.txt" <<'PY'
import json, sys, urllib.request, urllib.error
url, root = sys.argv[1], sys.argv[2]
def get(path):
    try:
        with urllib.request.urlopen(url + path) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
def ok(cond, what):
    print(("ok " if cond else "FAIL ") + what)
st, s = get("/api/status")
ok(st == 200 and set(s["workers"]) == {"marie", "anga"} and s["workers"]["marie"]["done"] == 3,
   "GET /api/status: the workers, with marie's 3 done")
st, t = get("/api/tasks/marie/m1")
ok(st == 200 and t["state"] == "complete" and t["result"] == json.load(open(root + "/results/marie/m1.json")),
   "GET /api/tasks/marie/m1: its result, as in results/")
st, runs = get("/api/runs")
ok(st == 200 and len(runs["runs"]) == 1 and runs["runs"][0]["run_id"].startswith("serve-"),
   "GET /api/runs: the serve's run")
st, run = get("/api/runs/" + runs["runs"][0]["run_id"])
ok(st == 200 and [e["event"] for e in run["events"] if e.get("task_id") == "m1"] == ["queued", "running", "complete"],
   "GET /api/runs/<id>: its events, as in events.jsonl")
ok(get("/api/tasks/marie/nope")[0] == 404 and get("/api/tasks/zoe/m1")[0] == 404
   and get("/api/runs/nope")[0] == 404 and get("/api/nothing")[0] == 404,
   "an unknown task, worker, run or path: 404 with a JSON error")
ok(get("/api/tasks/marie/..")[0] in (400, 404), "a task id that is a path: refused")
PY
read_checks "$root/api.txt"

post() { # post <path> [json]: prints the HTTP status
  curl -s -o "$root/post.json" -w '%{http_code}' -X POST -H 'content-type: application/json' \
    --data "${2:-{\}}" "$URL$1"
}
# Approve and reject tasks that await approval (anga's approve: true).
drop "$root" anga a1
drop "$root" anga a2
await_change 10 create "$root/tasks/anga/.awaiting" bash -c "
  [ -e '$root/tasks/anga/.awaiting/a1.json' ] && [ -e '$root/tasks/anga/.awaiting/a2.json' ]"
check "POST .../a1/approve: 202" [ "$(post /api/tasks/anga/a1/approve)" = 202 ]
check "POST .../a2/reject with why: 202" [ "$(post /api/tasks/anga/a2/reject '{"why": "not today"}')" = 202 ]
$AWAIT --timeout 30 "$root/results/anga/a1.json" "$root/results/anga/a2.json"
check "... the approved one ran to complete" json_is "$root/results/anga/a1.json" "j['status'] == 'complete'"
check "... the rejected one ended cancelled, rejected, with the reason" json_is "$root/results/anga/a2.json" \
  "j['status'] == 'cancelled' and j['error']['kind'] == 'rejected' and 'not today' in j['error']['message']"
check "approving what does not await: 409" [ "$(post /api/tasks/anga/a1/approve)" = 409 ]
check "a body that is not JSON: 400" [ "$(post /api/tasks/anga/a1/reject 'nope')" = 400 ]
# Unpark: nothing parked is a 409; a parked worker's marker goes.
check "unpark of a worker that is not parked: 409" [ "$(post /api/workers/marie/unpark)" = 409 ]
printf 'auth: test\n' >"$root/tasks/marie/.parked"
check "POST /api/workers/marie/unpark of a parked worker: 202" [ "$(post /api/workers/marie/unpark)" = 202 ]
check "... its park marker is gone" [ ! -e "$root/tasks/marie/.parked" ]
# /metrics, read by Prometheus's own text parser, against the results.
"$PY" - "$URL" "$root" >"$root/metrics.txt" <<'PY'
import glob, json, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
url, root = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url + "/metrics") as r:
    ctype, text = r.headers["Content-Type"], r.read().decode()
fams = {f.name: f for f in text_string_to_metric_families(text)}
def val(sample, family=None, **labels):
    for s in fams[family or sample].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0
def ok(cond, what):
    print(("ok " if cond else "FAIL ") + what)
res = [json.load(open(f)) for f in glob.glob(root + "/results/*/*.json")]
ok(ctype.startswith("text/plain; version=0.0.4"), "GET /metrics: Prometheus's text format")
counts = {}
for r in res:
    counts[(r["worker"], r["status"])] = counts.get((r["worker"], r["status"]), 0) + 1
ok(all(val("troupe_tasks_total", "troupe_tasks", worker=w, status=st) == n for (w, st), n in counts.items())
   and sum(s.value for s in fams["troupe_tasks"].samples if s.name == "troupe_tasks_total") == len(res),
   "troupe_tasks_total by worker and status is what results/ holds (%s)" % sorted(counts.items()))
ran = [r for r in res if r.get("model")]
ok(sum(r["usage"]["input_tokens"] for r in ran) == sum(s.value for s in fams["troupe_tokens"].samples if s.labels["kind"] == "input")
   and sum(r["usage"]["output_tokens"] for r in ran) == sum(s.value for s in fams["troupe_tokens"].samples if s.labels["kind"] == "output"),
   "troupe_tokens_total: the results' input and output tokens")
ok(abs(sum(r["cost_usd"] for r in res) - sum(s.value for s in fams["troupe_cost_usd"].samples)) < 1e-9,
   "troupe_cost_usd_total: the results' cost")
ok(val("troupe_task_duration_seconds_count", "troupe_task_duration_seconds", worker="marie") == len([r for r in res if r["worker"] == "marie"])
   and abs(val("troupe_task_duration_seconds_sum", "troupe_task_duration_seconds", worker="marie")
           - sum(r["duration_ms"] for r in res if r["worker"] == "marie") / 1000) < 1e-6,
   "troupe_task_duration_seconds: one observation per result, their durations")
ok(val("troupe_worker_parked", worker="marie") == 0 and val("troupe_queue_tasks", worker="marie", state="queued") == 0,
   "gauges from the status: nothing queued, nobody parked")
PY
read_checks "$root/metrics.txt"
# Cancel a running task: on a serve whose runs take 30 s. This one stops
# with a stream open: the stream ends, serve does not wait for it.
"$PY" "$SRC/tests/integration/sse_client.py" --url "$URL/api/events" --until-count 100000 \
  --ready-file "$root/sse3.ready" >/dev/null 2>&1 &
SSE=$!
PIDS+=("$SSE")
$AWAIT --timeout 10 "$root/sse3.ready" >/dev/null
kill -TERM "$SERVE"
await_exit "$SERVE"
check "serve with --http stops cleanly with a stream open" [ "$rc" -eq 0 ]
await_exit "$SSE" 10
check "... and the stream's client saw it end" [ "$rc" -ne 124 ]
LATENCY=30000 serve "$root" --http 127.0.0.1:0
drop "$root" marie slow
await_change 10 create "$root/tasks/marie/.running" test -e "$root/tasks/marie/.running/slow"
check "POST .../slow/cancel of a running task: 202" [ "$(post /api/tasks/marie/slow/cancel)" = 202 ]
$AWAIT --timeout 30 "$root/results/marie/slow.json"
check "... its result says cancelled" json_is "$root/results/marie/slow.json" \
  "j['status'] == 'cancelled' and j['error']['kind'] == 'cancelled'"
check "a cancel of a task that is not there: 409" [ "$(post /api/tasks/marie/slow/cancel)" = 409 ]
kill -TERM "$SERVE"
await_exit "$SERVE"

# --- beyond loopback: a token, or no start ------------------------------------
far=$(fresh_root far)
set +e
"$CAF_NODE" serve --root "$far" --config "$cfg" --executor sim --http 0.0.0.0:0 2>"$far/err.txt"
rc=$?
set -e
check "--http 0.0.0.0:0 without a token file: exit 2" [ "$rc" -eq 2 ]
check "... saying why" grep -q "reachable beyond this machine: give --http-token-file" "$far/err.txt"
printf 's3cret-token\n' >"$far/token"
serve "$far" --http 0.0.0.0:0 --http-token-file "$far/token"
port=${URL##*:}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "with a token file: a request without the token is 401" [ "$(code "http://127.0.0.1:$port/api/status")" = 401 ]
check "... with a wrong one 401" [ "$(code -H 'Authorization: Bearer nope' "http://127.0.0.1:$port/api/status")" = 401 ]
check "... with the token 200" [ "$(code -H 'Authorization: Bearer s3cret-token' "http://127.0.0.1:$port/api/status")" = 200 ]
check "... the stream too wants it" [ "$(code --max-time 2 "http://127.0.0.1:$port/api/events")" = 401 ]
kill -TERM "$SERVE"
await_exit "$SERVE"
set +e
"$CAF_NODE" serve --root "$far" --config "$cfg" --executor sim --http 127.0.0.1:99999 2>"$far/err2.txt"
rc=$?
set -e
check "a bad --http address: exit 2, saying why" bash -c "[ $rc -eq 2 ] && grep -q 'the port must be 0 to 65535' '$far/err2.txt'"
finish

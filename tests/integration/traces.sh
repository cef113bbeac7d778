#!/usr/bin/env bash
# OpenTelemetry traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, `caf-node run`
# exports the run over OTLP/HTTP JSON to a small collector started here, and
# the spans match the run's report: one per run, each task attempt
# (`invoke_agent <worker>`) and the planning and synthesis under it, with
# the GenAI usage attributes and troupe's own.
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
CFG="$SRC/config/troupe.json"
col=$WORK/collector
mkdir -p "$col"
"$PY" "$SRC/tests/integration/otlp_collector.py" --port-file "$col/port" --out "$col/got" &
PIDS+=("$!")
$AWAIT --timeout 20 "$col/port" >/dev/null
export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat "$col/port")"
export OTEL_EXPORTER_OTLP_HEADERS="x-tenant=troupe-test"

# checks <report.json> <trace.json> <planned: 0|1>: the trace against the report
checks() {
  "$PY" - "$@" <<'PY'
import json, sys
report, trace, planned = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3] == "1"
def ok(c, what): print(("ok " if c else "FAIL ") + what)
rs = trace["resourceSpans"][0]
ok({a["key"]: a["value"]["stringValue"] for a in rs["resource"]["attributes"]}.get("service.name") == "troupe",
   "the resource names the service")
spans = rs["scopeSpans"][0]["spans"]
attrs = lambda s: {a["key"]: list(a["value"].values())[0] for a in s["attributes"]}
roots = [s for s in spans if "parentSpanId" not in s]
ok(len(roots) == 1 and roots[0]["name"] == "troupe.run " + report["workflow"], "one root span per run")
root = roots[0]
ok(len({s["traceId"] for s in spans}) == 1 and all(s.get("parentSpanId") == root["spanId"] for s in spans if s is not root),
   "every other span is a child of the run's, in one trace")
agents = [s for s in spans if s["name"].startswith("invoke_agent ") and "troupe.task_id" in attrs(s)]
ran = [t for t in report["tasks"] if t.get("completed_at") and "duration_ms" in t]
ok(sorted((attrs(s)["troupe.task_id"], s["name"]) for s in agents) == sorted((t["task_id"], "invoke_agent " + t["worker"]) for t in ran),
   "one invoke_agent <worker> span per task attempt (%d)" % len(ran))
by = {attrs(s)["troupe.task_id"]: attrs(s) for s in agents}
ok(all(int(by[t["task_id"]]["gen_ai.usage.input_tokens"]) == t["usage"]["input_tokens"]
       and int(by[t["task_id"]]["gen_ai.usage.output_tokens"]) == t["usage"]["output_tokens"]
       and by[t["task_id"]]["gen_ai.request.model"] == t["model"]
       and abs(by[t["task_id"]]["troupe.cost_usd"] - t["cost_usd"]) < 1e-9
       and int(by[t["task_id"]]["troupe.attempt"]) == t["attempt"]
       and by[t["task_id"]]["gen_ai.operation.name"] == "invoke_agent" for t in ran),
   "each carries the result's usage, model, cost and attempt")
ok(all(int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"]) == t["duration_ms"] * 1000000
       for s in agents for t in ran if t["task_id"] == attrs(s)["troupe.task_id"]),
   "each lasts what its attempt did")
ok(all(int(root["startTimeUnixNano"]) <= int(s["startTimeUnixNano"]) and int(s["endTimeUnixNano"]) <= int(root["endTimeUnixNano"]) for s in spans),
   "the run's span covers them all")
names = [s["name"] for s in spans]
if planned:
    ok("invoke_agent orchestrator (planning)" in names and "invoke_agent orchestrator (synthesis)" in names,
       "the planning and the synthesis are spans of their own")
PY
}

root=$(fresh_root wf)
"$CAF_NODE" run "$SRC/workflows/parallel-demo.json" --root "$root" --config "$CFG" --executor sim \
  --sim-latency-ms 5 >/dev/null 2>"$root/err.log"
$AWAIT --timeout 20 "$col/got/1.json" >/dev/null
checks "$(ls "$root"/runs/*/report.json)" "$col/got/1.json" 0 >"$root/checks.txt" || true
check "the trace checks ran to their end" [ "$(wc -l <"$root/checks.txt")" -eq 7 ]
read_checks "$root/checks.txt"
check "the collector got OTEL_EXPORTER_OTLP_HEADERS" json_is "$col/got/1.headers.json" "j.get('x-tenant') == 'troupe-test'"
check "the log names the trace" grep -q "trace [0-9a-f]\{32\} exported to $OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces" "$root/err.log"

req=$(fresh_root request)
echo "Spring showcase on 14 June." >"$req/notes.txt"
with_fake_claude "$CAF_NODE" run "Prepare the spring showcase" --context "$req/notes.txt" \
  --root "$req" --config "$CFG" >/dev/null 2>"$req/err.log"
$AWAIT --timeout 20 "$col/got/2.json" >/dev/null
checks "$(ls "$req"/runs/*/report.json)" "$col/got/2.json" 1 >"$req/checks.txt" || true
check "... for the request too" [ "$(wc -l <"$req/checks.txt")" -eq 8 ]
read_checks "$req/checks.txt"
check "each agent's CLI got its attempt's span as TRACEPARENT (W3C trace context)" "$PY" -c "
import glob, json, sys
spans = json.load(open('$col/got/2.json'))['resourceSpans'][0]['scopeSpans'][0]['spans']
ids = {}
for s in spans:
    a = {x['key']: list(x['value'].values())[0] for x in s['attributes']}
    if 'troupe.task_id' in a:
        ids[a['troupe.task_id']] = '00-%s-%s-01' % (s['traceId'], s['spanId'])
calls = [json.load(open(f)) for f in glob.glob('$req/auth-homes/*/.claude/fake-calls/*.json')]
tasks = [c for c in calls if not c['env'].get('CLAUDE_CONFIG_DIR', '').endswith('/orchestrator/.claude')]
got = sorted(c['env'].get('TRACEPARENT', '') for c in tasks)
sys.exit(0 if tasks and got == sorted(ids.values()) else 1)"

# A collector that is not there: the run is not failed for it.
gone=$(fresh_root gone)
set +e
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1 "$CAF_NODE" run "$SRC/workflows/parallel-demo.json" \
  --root "$gone" --config "$CFG" --executor sim --sim-latency-ms 1 >/dev/null 2>"$gone/err.log"
rc=$?
set -e
check "an unreachable collector: the run still exits 0, and the log says so" bash -c "
  [ $rc -eq 0 ] && grep -q 'the trace was not exported to http://127.0.0.1:1/v1/traces' '$gone/err.log'"
finish

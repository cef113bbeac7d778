#!/usr/bin/env bash
# 60 s of overload: 3 workers share one account whose input-token limit
# allows about a tenth of the work dropped on them. The real Claude Code CLI
# runs against the mock API (tests/mock_api), which answers 429 to any
# request over the limit. Prints the 429 count and the utilisation of the
# binding limit over the window.
#
#   bench/rate_limit.sh [build dir] [seconds] [input tokens per minute]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-60}
ITPM=${3:-60000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
[ -x "$CLI" ] || { echo "run 'make claude-cli' first" >&2; exit 2; }
W=$(mktemp -d /tmp/troupe-ratebench.XXXXXX)
cleanup() { kill "${serve:-}" "${mock:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
"$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$W/port" --log "$W/requests.jsonl" --itpm "$ITPM" &
mock=$!
"$PY" "$SRC/tests/integration/await_results.py" --timeout 20 "$W/port"
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$W/port")" MARIE_KEY=k1 ANGA_KEY=k2 FABIEN_KEY=k3
cat >"$W/cfg.json" <<JSON
{"workers": {
  "marie": {"prompt": "$SRC/prompts/DANCE.md", "api_key_env": "MARIE_KEY", "slots": 3},
  "anga": {"prompt": "$SRC/prompts/ANGA.md", "api_key_env": "ANGA_KEY", "slots": 3},
  "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "api_key_env": "FABIEN_KEY", "slots": 3}},
 "limits": {"input_tokens_per_min": $ITPM},
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON
# About 3,500 input tokens a run: 10x what the window allows (capacity + refill).
n=$(( 10 * (ITPM + ITPM * SECS / 60) / 3500 ))
"$BUILD/caf-node" serve --root "$W/root" --config "$W/cfg.json" --ready-file "$W/ready" --grace-s 0 \
  --log-level warn 2>"$W/serve.log" &
serve=$!
"$PY" "$SRC/tests/integration/await_results.py" --timeout 30 "$W/ready"
"$PY" - "$W/root" "$n" <<'PYEOF'
import json, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    w = ("marie", "anga", "fabien")[i % 3]
    p = f"{root}/tasks/{w}/o{i:04d}.json"
    with open(p + ".tmp", "w") as f:
        json.dump({"task_id": f"o{i:04d}", "worker": w, "description": f"Overload task {i}."}, f)
    os.rename(p + ".tmp", p)
PYEOF
sleep "$SECS" # the measurement window
kill -TERM "$serve"; wait "$serve" || true; serve=""
"$PY" - "$W/requests.jsonl" "$ITPM" "$n" "$SECS" <<'PYEOF'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if '"POST"' in l]
itpm, n, secs = float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ok = [r for r in reqs if r.get("status") == 200]
n429 = sum(1 for r in reqs if r.get("status") == 429)
used = sum(r["input_tokens"] for r in ok)
span = max(r["t"] for r in ok) - min(r["t"] for r in ok)
allowed = itpm + itpm / 60.0 * span
print(f"offered {n} tasks ({n * 3500 / allowed:.1f}x what the limit allows); in {span:.1f} s the API answered "
      f"{len(ok)} requests and {n429} with 429; {used} input tokens of {allowed:.0f} allowed: "
      f"utilisation {used / allowed:.3f}")
PYEOF

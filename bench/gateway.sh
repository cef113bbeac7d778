#!/usr/bin/env bash
# The gateway's added latency per request (p50, p99) against a direct
# connection to the mock API, in the same run: bench/gateway.sh [build] [requests]
set -euo pipefail
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'kill $mock 2>/dev/null; rm -rf "$dir"' EXIT
/usr/bin/python3 "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$dir/port" &
mock=$!
/usr/bin/python3 "$SRC/tests/integration/await_results.py" --timeout 20 "$dir/port"
"$BUILD/bench/bench_gateway" "http://127.0.0.1:$(cat "$dir/port")" "${2:-500}"

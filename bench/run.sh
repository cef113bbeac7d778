#!/usr/bin/env bash
# Runs the benchmarks and prints their figures (see the README's table).
set -euo pipefail
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/.." && pwd)
"$BUILD/bench/bench_pipeline" "$SRC" "${SCALE:-1}"
# The ZeroMQ bridge: the orchestrator's actors and broker in one process, each
# worker a real `caf-node worker` process, over TCP on loopback.
"$BUILD/bench/bench_bridge" "$BUILD/caf-node" "$SRC" "${BRIDGE_TASKS:-100000}" 3
# The same with the orchestrator on one core and the nodes on another
# (caf-node --cpus; see the README on round trips).
"$BUILD/bench/bench_bridge" "$BUILD/caf-node" "$SRC" "${BRIDGE_TASKS:-100000}" 3 pinned
"$BUILD/bench/bench_zmq_floor"
# The floor under the bridge figures: the same wire protocol, batches and
# JSON codec, one broker thread and forked node processes, no actors.
"$BUILD/bench/bench_bridge_floor" "${BRIDGE_TASKS:-100000}" 3
# The floor under the /bin/true row: bare spawns, no actors.
"$BUILD/bench/bench_spawn_floor" 3000 2 12
# The gateway's added latency per API request, against the mock direct.
"$SRC/bench/gateway.sh" "$BUILD"

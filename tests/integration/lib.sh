# Helpers for the integration scripts: real caf-node, real processes, real
# files. Usage: source lib.sh <caf-node> <source dir>
set -euo pipefail
CAF_NODE=$(readlink -f "$1")
SRC=$(readlink -f "$2")
PY=/usr/bin/python3
FAILS=0
PASSES=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/troupe-it.XXXXXX")
# Background processes a script started: killed at its exit (a script
# appends each pid; one with its own cleanup still ends in at_exit).
PIDS=()
# After a failed check the end of every log is printed (CI keeps nothing
# else); TROUPE_KEEP=1 also keeps the roots.
at_exit() {
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ "$FAILS" -gt 0 ]; then
    find "$WORK" -name '*.log' -size +0 2>/dev/null | sort | while read -r log; do
      echo "--- last lines of ${log#"$WORK"/}"
      tail -n 25 "$log"
    done
  fi
  if [ "$FAILS" -gt 0 ] && [ -n "${TROUPE_KEEP:-}" ]; then
    echo "kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap at_exit EXIT

pass() { PASSES=$((PASSES + 1)); echo "ok   - $*"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
check() { # check "description" command...
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# read_checks <file>: each line a Python check printed, "ok what" or
# "FAIL what", becomes a check.
read_checks() {
  local verdict what
  while read -r verdict what; do
    if [ "$verdict" = ok ]; then pass "$what"; else fail "$what"; fi
  done <"$1"
}
# Evaluates a Python expression over the JSON file $1 bound to `j`.
json_is() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; }
finish() {
  echo "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}
# A fresh root with the fake claude first on PATH.
fresh_root() {
  local r="$WORK/$1"
  mkdir -p "$r"
  echo "$r"
}
# await_change <seconds> <event> <watched path> <condition...>: returns 0 once
# the condition command succeeds, checking it again on each inotify <event> on
# the path (and at least every second); 1 after <seconds>. (A bare
# `until cond; do inotifywait ...; done` fails when the last wait timed out
# just before the condition came true: the loop returns the wait's status.)
await_change() {
  local secs=$1 event=$2 watched=$3
  shift 3
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    inotifywait -qq -t 1 -e "$event" "$watched" || true
  done
}
# count_is <n> <dir>: the directory holds exactly n entries.
# await_exit <pid> [seconds]: waits (20 s by default) for a child of this
# shell to end and sets rc to its exit status (124: it did not end in time).
await_exit() {
  rc=0
  timeout "${2:-20}" tail --pid="$1" -f /dev/null && wait "$1" || rc=$?
}
count_is() { [ "$(ls "$2" | wc -l)" -eq "$1" ]; }
with_fake_claude() { PATH="$SRC/tests/fake:$PATH" "$@"; }
# `jq -e EXPR [FILE]` that fails on empty input (plain jq -e passes it).
jq_true() {
  local in
  if [ $# -gt 1 ]; then in=$(cat "$2"); else in=$(cat); fi
  [ -n "$in" ] && printf '%s' "$in" | jq -e "$1" >/dev/null
}
export -f jq_true
# start_orchestrator <root> <config> [args...]: `caf-node orchestrator` on
# free loopback ports in the background, logging to <root>/orch.log; waits
# until it is bound and sets ORCH (its pid, also added to PIDS), W_EP, P_EP
# and E_EP.
start_orchestrator() {
  local root=$1 cfg=$2
  shift 2
  rm -f "$root/orch.ready"
  "$CAF_NODE" orchestrator --root "$root" --config "$cfg" --workers 'tcp://127.0.0.1:*' \
    --producers 'tcp://127.0.0.1:*' --events 'tcp://127.0.0.1:*' \
    --ready-file "$root/orch.ready" "$@" >>"$root/orch.log" 2>&1 &
  ORCH=$!
  PIDS+=("$ORCH")
  "$PY" "$SRC/tests/integration/await_results.py" --timeout 30 "$root/orch.ready" >/dev/null
  W_EP=$(jq -r .workers "$root/orch.ready")
  P_EP=$(jq -r .producers "$root/orch.ready")
  E_EP=$(jq -r .events "$root/orch.ready")
}
# Network namespaces need root: sudo (without a password) when we are not.
IP=(ip)
[ "$(id -u)" -eq 0 ] || IP=(sudo -n ip)
# veth_pair <ns-a> <if-a> <addr-a/len> <ns-b> <if-b> <addr-b/len>: joins two
# network namespaces with a veth pair, addressed and up ("${IP[@]}": ip, or
# sudo -n ip).
veth_pair() {
  "${IP[@]}" link add "$2" type veth peer name "$5"
  "${IP[@]}" link set "$2" netns "$1"
  "${IP[@]}" link set "$5" netns "$4"
  "${IP[@]}" -n "$1" addr add "$3" dev "$2"
  "${IP[@]}" -n "$4" addr add "$6" dev "$5"
  "${IP[@]}" -n "$1" link set "$2" up
  "${IP[@]}" -n "$4" link set "$5" up
}
# free_port: a loopback TCP port that was free a moment ago.
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_redis <dir> [port] [redis options...]: a real redis-server in <dir>
# on a free loopback port (or <port>: a restart), awaited on its own
# "Ready to accept connections" line; sets REDIS_PORT and REDIS_PID (also in
# PIDS). Its log: <dir>/redis.log. REDIS_BIND: its addresses (loopback by
# default); REDIS_WRAP: an array the command runs under (ip netns exec NS).
start_redis() {
  local dir=$1 port=${2:-}
  shift; [ $# -gt 0 ] && shift
  REDIS_PORT=${port:-$(free_port)}
  local fifo="$dir/redis.fifo.$RANDOM"
  mkfifo "$fifo"
  ${REDIS_WRAP[@]+"${REDIS_WRAP[@]}"} redis-server --port "$REDIS_PORT" --bind "${REDIS_BIND:-127.0.0.1}" --dir "$dir" \
    --save "" "$@" >"$fifo" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  local fd line ready=1
  exec {fd}<"$fifo"
  while read -r -u "$fd" line; do
    echo "$line" >>"$dir/redis.log"
    if [[ $line == *"Ready to accept connections"* ]]; then ready=0; break; fi
  done
  cat <&"$fd" >>"$dir/redis.log" & # drained, so that it never blocks
  PIDS+=("$!")
  exec {fd}<&-
  rm -f "$fifo"
  return $ready
}
# QUEUE=redis: the same suite on the shared queue. A redis-server of the
# script's own, and every serve and orchestrator on it (on_redis.sh).
if [ "${QUEUE:-folders}" = redis ]; then
  mkdir -p "$WORK/redis"
  start_redis "$WORK/redis"
  export TROUPE_REAL_NODE=$CAF_NODE TROUPE_TEST_QUEUE="redis://127.0.0.1:$REDIS_PORT"
  CAF_NODE="$SRC/tests/integration/on_redis.sh"
  echo "# on the shared queue: $TROUPE_TEST_QUEUE"
fi

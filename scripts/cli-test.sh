#!/usr/bin/env bash
# make cli-test-parallel / cli-test-sequential: drops a demo workflow's tasks
# (or those of --workflow FILE: make orchestration-cli-submit-tasks) into the
# file drop and waits for every result. Uses the 'caf-node serve'
# already running on the root, or starts one for the test (executor from
# $EXECUTOR, default claude; EXECUTOR=sim runs offline).
source "$(dirname "$0")/lib/common.sh"

usage() {
  echo "usage: $(basename "$0") parallel|sequential|--workflow FILE [--timeout S]"
}
[ $# -ge 1 ] || { usage >&2; exit 2; }
case $1 in
  parallel) wf="$(dirname "$0")/../workflows/parallel-demo.json" ;;
  sequential) wf="$(dirname "$0")/../workflows/sequential-workflow.json" ;;
  --workflow)
    wf=${2:-}
    [ -n "$wf" ] || { usage >&2; exit 2; }
    [ -f "$wf" ] || die "no workflow file $wf"
    shift ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
shift
timeout=$TROUPE_TIMEOUT
[ "${1:-}" = --timeout ] && timeout=${2:?}
need_tools
CAF_NODE=${CAF_NODE:-$(dirname "$0")/../build/caf-node}
[ -x "$CAF_NODE" ] || die "$CAF_NODE not built (run make build)"
pidfile="$TROUPE_ROOT/.troupe-serve.pid"
started=""
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
  rm -f "$pidfile"
  "$CAF_NODE" serve --root "$TROUPE_ROOT" --executor "${EXECUTOR:-claude}" --ready-file "$pidfile" \
    2>>"$TROUPE_ROOT/serve.log" &
  started=$!
  trap '[ -n "$started" ] && kill -TERM "$started" 2>/dev/null && wait "$started"; rm -f "$pidfile"' EXIT
  for _ in $(seq 1 300); do
    [ -f "$pidfile" ] && break
    kill -0 "$started" 2>/dev/null || die "caf-node serve did not start; see $TROUPE_ROOT/serve.log"
    inotifywait -qq -t 1 -e moved_to -e close_write "$TROUPE_ROOT" 2>/dev/null || true
  done
  echo "started caf-node serve (pid $started, executor ${EXECUTOR:-claude}) for this test" >&2
fi
stamp=$(date +%Y%m%dT%H%M%S)
wf=$(jq --arg s "$stamp" '.tasks |= map(.task_id += "-" + $s | .dependencies |= map(. + "-" + $s))' "$wf")
n=$(jq '.tasks | length' <<<"$wf")
for i in $(seq 0 $((n - 1))); do
  t=$(jq -c ".tasks[$i]" <<<"$wf")
  drop_task "$(jq -r .worker <<<"$t")" "$t" >/dev/null
done
echo "dropped $n tasks; waiting..." >&2
mapfile -t ids < <(jq -r '.tasks[] | "\(.worker)/\(.task_id)"' <<<"$wf")
await_and_show "$timeout" "${ids[@]}"
echo "all $n tasks complete" >&2

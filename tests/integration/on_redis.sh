#!/usr/bin/env bash
# caf-node with the shared queue: `serve` and `orchestrator` get
# --queue $TROUPE_TEST_QUEUE and a prefix of their root's own, so that the
# suites written for the folder queue run unchanged on Redis (each root
# its own queue, as each root is its own folder queue). Anything else is
# passed through. lib.sh points CAF_NODE here when QUEUE=redis.
real=${TROUPE_REAL_NODE:?}
case "${1:-}" in
  serve | orchestrator) ;;
  *) exec "$real" "$@" ;;
esac
root=.
args=("$@")
for ((i = 1; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --root) root=${args[$((i + 1))]:-.} ;;
    --root=*) root=${args[$i]#--root=} ;;
  esac
done
key=$(readlink -m "$root" | sha1sum | cut -c1-12)
cmd=$1
shift
exec "$real" "$cmd" --queue "${TROUPE_TEST_QUEUE:?}" --queue-prefix "troupe:$key:" "$@"

# Shared by the troupe scripts: where the folders are, how to drop a task
# (atomically) and how to wait for its result (inotify, with a timeout).
# Needs bash, jq and inotifywait (Debian: jq, inotify-tools).

set -euo pipefail

TROUPE_ROOT=${TROUPE_ROOT:-.}
TROUPE_TIMEOUT=${TROUPE_TIMEOUT:-900}

die() { echo "error: $*" >&2; exit 2; }

need_tools() {
  command -v jq >/dev/null || die "jq is required (apt-get install jq)"
  command -v inotifywait >/dev/null || die "inotifywait is required (apt-get install inotify-tools)"
}

# A task id from free text: lower case, [a-z0-9-], at most 60 characters.
slug() {
  printf '%s' "$1" | iconv -f utf-8 -t ascii//TRANSLIT 2>/dev/null \
    | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//' | cut -c1-60
}

# drop_task <worker> <task json>: writes tasks/<worker>/<task_id>.json
# atomically (a hidden temp file, then rename), so the node never sees half.
drop_task() {
  local worker=$1 json=$2 id dir
  id=$(jq -r '.task_id' <<<"$json")
  dir="$TROUPE_ROOT/tasks/$worker"
  [ -d "$dir" ] || die "$dir does not exist (is the root right? run 'make cli-setup')"
  printf '%s\n' "$json" >"$dir/.$id.json.tmp"
  mv "$dir/.$id.json.tmp" "$dir/$id.json"
  echo "$id"
}

# wait_result <worker> <task_id> [timeout_s]: waits for the result file;
# prints it; returns 0 if complete, 1 if failed/rejected, 3 on timeout.
wait_result() {
  local worker=$1 id=$2 timeout=${3:-$TROUPE_TIMEOUT}
  local file="$TROUPE_ROOT/results/$worker/$id.json" deadline=$((SECONDS + timeout))
  while [ ! -e "$file" ]; do
    local left=$((deadline - SECONDS))
    if [ "$left" -le 0 ]; then
      echo "error: no result for $worker/$id within ${timeout}s (is 'caf-node serve' running on $TROUPE_ROOT?)" >&2
      return 3
    fi
    # Wakes on the result's arrival; the 1 s slices close the gap between
    # the check above and the watch being set up.
    inotifywait -qq -t 1 -e moved_to -e close_write "$TROUPE_ROOT/results/$worker" 2>/dev/null || true
  done
  cat "$file"
  [ "$(jq -r '.status' "$file")" = complete ]
}

# Prints a one-paragraph view of a result file.
show_result() {
  jq -r '"[\(.status)] \(.worker)/\(.task_id): \(.summary)",
         (.findings[]? | "  - \(.)"),
         (if (.artifacts | length) > 0 then "  artifacts: " + (.artifacts | join(", ")) else empty end),
         (if .error then "  error: \(.error.kind): \(.error.message)" else empty end)' "$1"
}

# await_and_show <timeout> <worker/task_id>...: waits for each result in turn
# and prints it. Exits 3 on a timeout; returns 1 if any did not complete.
await_and_show() {
  local timeout=$1 failed=0 rc wi
  shift
  for wi in "$@"; do
    rc=0
    wait_result "${wi%%/*}" "${wi#*/}" "$timeout" >/dev/null || rc=$?
    [ "$rc" -eq 3 ] && exit 3
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
    show_result "$TROUPE_ROOT/results/$wi.json"
  done
  [ "$failed" -eq 0 ] || { echo "$failed of $# task(s) did not complete" >&2; return 1; }
}

#!/usr/bin/env bash
# Evaluates a whole class through the file drop: one task per student, then
# the class summary once they are all done; waits and prints a table.
source "$(dirname "$0")/lib/common.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") <roster file> [--type hip-hop] [--date YYYY-MM-DD] [--timeout S]

Roster format: see generate-batch-workflow.sh. Needs a running 'caf-node serve' on \$TROUPE_ROOT.
Exit 0 if every evaluation and the summary completed, 1 if any failed, 2 on bad input, 3 on timeout.
USAGE
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
case $1 in -h|--help) usage; exit 0 ;; esac
roster=$1; shift
gen_args=(); timeout=$TROUPE_TIMEOUT
while [ $# -gt 0 ]; do
  case $1 in
    --type|--date) gen_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
need_tools
wf=$("$(dirname "$0")/generate-batch-workflow.sh" "$roster" "${gen_args[@]}")
# Each run gets its own ids, so re-running a class is not a no-op.
stamp=$(date +%Y%m%dT%H%M%S)
wf=$(jq --arg s "$stamp" '.tasks |= map(.task_id += "-" + $s | .dependencies |= map(. + "-" + $s))' <<<"$wf")
mapfile -t ids < <(jq -r '.tasks[].task_id' <<<"$wf")
# The summary depends on the others: the file drop holds it until they finish.
for i in "${!ids[@]}"; do
  drop_task marie "$(jq -c ".tasks[$i]" <<<"$wf")" >/dev/null
done
echo "dropped ${#ids[@]} tasks into tasks/marie/; waiting..." >&2
failed=0
for id in "${ids[@]}"; do
  rc=0
  wait_result marie "$id" "$timeout" >/dev/null || rc=$?
  [ "$rc" -eq 3 ] && exit 3
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
done
printf '%-40s %-9s %s\n' task status summary
for id in "${ids[@]}"; do
  jq -r '"\(.task_id)\t\(.status)\t\(.summary | gsub("\n"; " ") | .[0:80])"' "$TROUPE_ROOT/results/marie/$id.json" \
    | awk -F'\t' '{printf "%-40s %-9s %s\n", $1, $2, $3}'
done
[ "$failed" -eq 0 ] || { echo "$failed task(s) did not complete" >&2; exit 1; }

#!/usr/bin/env bash
# Creates one APEXX evaluation with Marie through the file drop and waits for it.
source "$(dirname "$0")/lib/common.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") "Student Name" [--type hip-hop] [--date YYYY-MM-DD] [--notes TEXT] [--timeout S]

Drops tasks/marie/eval-<student>-<date>.json for a running 'caf-node serve' (root: \$TROUPE_ROOT,
default .), waits for results/marie/<id>.json and prints it. Exit 0 if the evaluation is complete,
1 if it failed, 2 on bad input, 3 on timeout.
USAGE
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
case $1 in -h|--help) usage; exit 0 ;; esac
name=$1; shift
type=hip-hop; date=$(date +%F); notes=""; timeout=$TROUPE_TIMEOUT
while [ $# -gt 0 ]; do
  case $1 in
    --type) type=${2:?--type needs a value}; shift 2 ;;
    --date) date=${2:?--date needs a value}; shift 2 ;;
    --notes) notes=${2:?--notes needs a value}; shift 2 ;;
    --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
need_tools
[ -n "$(slug "$name")" ] || die "student name \"$name\" has no usable letters"
[[ $date =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || die "--date must be YYYY-MM-DD, got \"$date\""
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"

id="eval-$(slug "$name")-$date"
task=$(jq -n --arg id "$id" --arg name "$name" --arg type "$type" --arg date "$date" --arg notes "$notes" '{
  task_id: $id, worker: "marie", priority: "high", dependencies: [],
  description: "Create \($type) evaluation for \($name) in the APEXX format.",
  context: ({student_name: $name, date: $date, evaluation_type: $type}
            + (if $notes == "" then {} else {teacher_notes: $notes} end))}')
drop_task marie "$task" >/dev/null
echo "dropped tasks/marie/$id.json; waiting for the result..." >&2
await_and_show "$timeout" "marie/$id"

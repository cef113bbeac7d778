#!/usr/bin/env bash
# Smoke test of a live setup: asks each worker to introduce itself and waits.
source "$(dirname "$0")/lib/common.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") [worker...] [--timeout S]

Default workers: every folder under \$TROUPE_ROOT/tasks/. Needs a running 'caf-node serve'.
Exit 0 if every worker answered, 1 if one failed, 2 on bad input, 3 on timeout.
USAGE
}

workers=(); timeout=$TROUPE_TIMEOUT
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) timeout=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) workers+=("$1"); shift ;;
  esac
done
need_tools
if [ ${#workers[@]} -eq 0 ]; then
  for d in "$TROUPE_ROOT"/tasks/*/; do [ -d "$d" ] && workers+=("$(basename "$d")"); done
fi
[ ${#workers[@]} -gt 0 ] || die "no workers under $TROUPE_ROOT/tasks/ (run 'make cli-setup')"
stamp=$(date +%Y%m%dT%H%M%S)
for w in "${workers[@]}"; do
  [ -d "$TROUPE_ROOT/tasks/$w" ] || die "no worker folder $TROUPE_ROOT/tasks/$w"
  drop_task "$w" "$(jq -n --arg w "$w" --arg id "intro-$w-$stamp" '{task_id: $id, worker: $w, priority: "high",
    description: "Introduce yourself in three sentences: who you are, what you can do for this team, and one example task you would be good at. Do not write any file."}')" >/dev/null
done
ids=()
for w in "${workers[@]}"; do ids+=("$w/intro-$w-$stamp"); done
await_and_show "$timeout" "${ids[@]}"

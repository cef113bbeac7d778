#!/usr/bin/env bash
# Evaluates a student from their record file (JSON) with Marie and waits.
source "$(dirname "$0")/lib/common.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") <student.json> [--timeout S]

The record needs "name"; "type", "date" and "notes" are used when present, e.g.
  {"name": "Emma Rodriguez", "type": "hip-hop", "notes": "bounce steady, rock still stiff"}
Runs the evaluation through the file drop of a running 'caf-node serve' (root: \$TROUPE_ROOT).
Exit 0 if complete, 1 if it failed, 2 on bad input, 3 on timeout.
USAGE
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
case $1 in -h|--help) usage; exit 0 ;; esac
record=$1; shift
timeout=$TROUPE_TIMEOUT
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
need_tools
[ -r "$record" ] || die "cannot read $record"
# -s: exactly one document (jq -e alone accepts an empty file)
jq -e -s 'length == 1 and (.[0] | type == "object" and (.name | type) == "string" and (.name | length) > 0)' \
  "$record" >/dev/null 2>&1 \
  || die "$record: must be a JSON object with a non-empty \"name\""
args=("$(jq -r .name "$record")" --timeout "$timeout")
t=$(jq -r '.type // empty' "$record"); [ -n "$t" ] && args+=(--type "$t")
d=$(jq -r '.date // empty' "$record"); [ -n "$d" ] && args+=(--date "$d")
n=$(jq -r '.notes // empty' "$record"); [ -n "$n" ] && args+=(--notes "$n")
exec "$(dirname "$0")/create-evaluation.sh" "${args[@]}"

#!/usr/bin/env bash
# Enrols a student: Marie writes their record (eleves/<name>.md) and waits.
source "$(dirname "$0")/lib/common.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") "Student Name" --age N --level LEVEL [--class TEXT] [--goals TEXT] [--health TEXT] [--timeout S]

LEVEL: débutant, intermédiaire or avancé (beginner, intermediate, advanced accepted).
Exit 0 when Marie has created the record, 1 if the task failed, 2 on bad input, 3 on timeout.
USAGE
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
case $1 in -h|--help) usage; exit 0 ;; esac
name=$1; shift
age=""; level=""; class=""; goals=""; health=""; timeout=$TROUPE_TIMEOUT
while [ $# -gt 0 ]; do
  case $1 in
    --age) age=${2:?}; shift 2 ;;
    --level) level=${2:?}; shift 2 ;;
    --class) class=${2:?}; shift 2 ;;
    --goals) goals=${2:?}; shift 2 ;;
    --health) health=${2:?}; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
need_tools
[ -n "$(slug "$name")" ] || die "student name \"$name\" has no usable letters"
[[ $age =~ ^[0-9]{1,2}$ ]] && [ "$age" -ge 3 ] && [ "$age" -le 99 ] || die "--age must be a number from 3 to 99"
case $level in
  débutant|debutant|beginner) level=débutant ;;
  intermédiaire|intermediaire|intermediate) level=intermédiaire ;;
  avancé|avance|advanced) level=avancé ;;
  *) die "--level must be débutant, intermédiaire or avancé" ;;
esac
id="student-$(slug "$name")"
task=$(jq -n --arg id "$id" --arg name "$name" --argjson age "$age" --arg level "$level" \
  --arg class "$class" --arg goals "$goals" --arg health "$health" '{
  task_id: $id, worker: "marie", priority: "medium",
  description: "Crée la fiche élève de \($name) à partir du contexte (identité, niveau déclaré, objectifs, contraintes physiques) dans eleves/.",
  context: {student_name: $name, age: $age, declared_level: $level, classes: [$class | select(. != "")],
            goals: $goals, health_notes: $health}}')
drop_task marie "$task" >/dev/null
echo "dropped tasks/marie/$id.json; waiting for the result..." >&2
await_and_show "$timeout" "marie/$id"

#!/usr/bin/env bash
# The soak (bench/soak.sh) at CI size: 50 s of mixed load (file drops, bridge
# submits, workflows, `caf-node submit`) on an orchestrator and six worker
# nodes, with worker nodes killed (SIGKILL) and started again and the
# orchestrator stopped (SIGTERM) and killed (SIGKILL) and started again.
# Every task must have exactly one result, and no process may end the run
# with more descriptors than it had after its warm-up. About 70 s.
source "$(dirname "$0")/lib.sh"
out="$WORK/soak"
rc=0
bash "$SRC/bench/soak.sh" "$CAF_NODE" "$SRC" --seconds 50 --out "$out" >"$WORK/soak.log" 2>&1 || rc=$?
sed -n '/^soak: /,$p' "$WORK/soak.log"
S="$out/summary.json"
check "the soak ran to its report" [ -f "$S" ]
check "... with worker nodes killed and restarted (SIGKILL), at least 3" json_is "$S" "j['node_kills'] >= 3"
check "... and the orchestrator restarted after SIGTERM and after SIGKILL" json_is "$S" \
  "j['orchestrator_term'] == 1 and j['orchestrator_kill'] == 1"
check "... under load from every source (drops, bridge, workflows, caf-node submit)" json_is "$S" \
  "all(j['by_source'].get(k, 0) > 0 for k in ('drop', 'bridge', 'workflow', 'cli')) and j['tasks_expected'] >= 500"
check "no task lost: each one dropped or accepted has its result" json_is "$S" "j['lost'] == 0"
check "no result written twice" json_is "$S" "j['duplicated'] == 0"
check "every result complete" json_is "$S" "j['status'] == {'complete': j['results']}"
check "the producer was told each result once, as the file says, and got every REPORT due" json_is "$S" \
  "j['notify_mismatch'] == 0 and j['notify_dup'] == 0 and j['not_notified'] == 0 and j['notify_expected'] > 0 and j['reports_expected'] > 0"
check "no descriptor growth in a process alive at the end (at most $(jq -r .fd_tolerance "$S" 2>/dev/null) more)" json_is "$S" \
  "not any(p['alive_at_end'] and p['fds_last'] > p['fds_first'] + j['fd_tolerance'] for p in j['processes'])"
check "every check of the soak holds (exit 0)" [ "$rc" -eq 0 ]
finish

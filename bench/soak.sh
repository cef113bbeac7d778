#!/usr/bin/env bash
# Soak (issue 21): the orchestrator and six worker nodes under steady mixed
# load for a long time, with nodes killed and the orchestrator restarted,
# watching each process's memory and descriptors and every task's result.
#
#   bench/soak.sh <caf-node> <source dir> [--minutes N | --seconds N] [--out DIR] [options]
#
# On loopback, from a copy of the binary (and libtroupe-gateway.so) taken at
# the start, with config/ and prompts/ copied too (the tree may change
# meanwhile):
# - `caf-node orchestrator` on a root with the file drop, on two ports picked
#   free at the start and kept across its restarts (the nodes and the producer
#   reconnect to the same address);
# - two worker nodes per shipped worker (marie, anga, fabien) on the
#   simulator (--executor sim): `<w>-a` lives the whole run, `<w>-b` is killed
#   (SIGKILL) every --kill-every seconds in turn and started again 1 s or 5 s
#   later (before and after the orchestrator declares it dead);
# - the orchestrator is stopped with SIGTERM at 15 % of the run and killed
#   with SIGKILL at 30 %, each time started again at once: both keep every
#   task (README, "The file drop" and "Several nodes"; PROTOCOL.md §5-6), so
#   the last instance lives the last 70 % of the run;
# - a load generator at a steady --rate (tasks/s in all, default 18): 45 % as
#   files dropped whole into tasks/<worker>/ (tmp + rename; every tenth
#   depends on the drop before it, of another worker), 33 % submitted over the
#   bridge by a Python DEALER with "wait": true, 17 % as 4-task workflows
#   (a diamond over the three workers, "wait": true), 5 % by `caf-node submit`
#   processes (a new connection each); plus `caf-node status --connect` every
#   15 s. Answers are matched to SUBMITs by the task ids they name; a SUBMIT
#   without an answer in 6 s (lost in flight as the orchestrator went away)
#   is sent again, with the same ids: a resubmission is a no-op for a task
#   that is already there (PROTOCOL.md §4, §6);
# - every --sample-s seconds (default 10; shorter runs: duration/30, at least
#   1 s) each caf-node process's VmRSS and the count of /proc/PID/fd, into
#   samples.csv; each start of a process is a series of its own (label#n).
#
# At the end: the load stops, every submitted task's result is awaited, one
# interval passes idle, a last sample is taken, every node and the
# orchestrator get SIGTERM (each must exit 0). Then the checks:
# - exactly one result per task: every task dropped or accepted has
#   results/<worker>/<task_id>.json, no result file was written twice (an
#   inotify watch on results/ counts every rename into it from the first
#   task on), every result is `complete`, nothing is left in tasks/;
# - what the producer was told: every RESULT notification matches the result
#   file (status, completed_at); no task was notified more often than it was
#   submitted; every task and workflow accepted by the last orchestrator
#   instance (more than 2 s after it was ready) got its RESULT or REPORT
#   (earlier ones lose theirs with the connection, as PROTOCOL.md §4 says);
# - descriptors of every process alive at the end: the last sample (idle)
#   against the first one after the warm-up, at most --fd-tolerance more;
# - RSS: the least-squares slope over the samples after the warm-up
#   (--warmup-s, default 10 % of the run, counted from each process's start),
#   in MB per hour, with its standard error; reported, and checked only with
#   --max-rss-slope.
# Exit 0 when every check holds, 1 otherwise, 2 on bad usage. The report is
# printed and kept in DIR/report.txt (DIR/summary.json for programs), with a
# row to paste into the README's Benchmarks table.
#
# Options: --out DIR (default: a new folder under $TMPDIR or /tmp, kept),
# --sample-s S, --warmup-s S, --rate R, --sim-latency-ms N (default 100),
# --kill-every S (default 60; shorter runs: duration/5, at least 5),
# --fd-tolerance N (default 2), --max-rss-slope MB_PER_H (default: not checked).
# Run it niced on a shared machine: nice -n 10 bench/soak.sh build/caf-node .
set -euo pipefail
export LC_ALL=C
usage() { # usage [exit code]: the comment above, on stderr (stdout for --help)
  if [ "${1:-2}" -eq 0 ]; then
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
  else
    sed -n '/^#   bench/p' "$0" | sed 's/^# *//' >&2
    echo "options: --minutes N | --seconds N, --out DIR, --sample-s S, --warmup-s S, --rate R," >&2
    echo "         --sim-latency-ms N, --kill-every S, --fd-tolerance N, --max-rss-slope MB_PER_H (--help: all)" >&2
  fi
  exit "${1:-2}"
}
case ${1:-} in -h | --help) usage 0 ;; esac
[ $# -ge 2 ] || usage
CAF_IN=$(readlink -f "$1")
SRC=$(readlink -f "$2")
shift 2
[ -x "$CAF_IN" ] || { echo "error: $CAF_IN is not an executable" >&2; exit 2; }
[ -f "$SRC/config/troupe.json" ] || { echo "error: $SRC has no config/troupe.json" >&2; exit 2; }
DURATION=1800
OUT=""
SAMPLE_S=""
WARMUP_S=""
RATE=18
LATENCY=100
KILL_EVERY=""
FD_TOL=2
MAX_SLOPE=""
is_num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || [ "$1" = -h ] || [ "$1" = --help ] || { echo "error: $1 needs a value" >&2; usage; }
  case $1 in
    --minutes) [[ $2 =~ ^[0-9]+$ ]] || usage; DURATION=$(($2 * 60)); shift 2 ;;
    --seconds) [[ $2 =~ ^[0-9]+$ ]] || usage; DURATION=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --sample-s) is_num "$2" || usage; SAMPLE_S=$2; shift 2 ;;
    --warmup-s) is_num "$2" || usage; WARMUP_S=$2; shift 2 ;;
    --rate) is_num "$2" || usage; RATE=$2; shift 2 ;;
    --sim-latency-ms) [[ $2 =~ ^[0-9]+$ ]] || usage; LATENCY=$2; shift 2 ;;
    --kill-every) [[ $2 =~ ^[0-9]+$ ]] || usage; KILL_EVERY=$2; shift 2 ;;
    --fd-tolerance) [[ $2 =~ ^[0-9]+$ ]] || usage; FD_TOL=$2; shift 2 ;;
    --max-rss-slope) is_num "$2" || usage; MAX_SLOPE=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "error: unknown option $1" >&2; usage ;;
  esac
done
[ "$DURATION" -ge 20 ] || { echo "error: a soak needs at least 20 s (restarts at 15 % and 30 %)" >&2; exit 2; }
if [ -z "$SAMPLE_S" ]; then
  if [ "$DURATION" -ge 300 ]; then SAMPLE_S=10; else SAMPLE_S=$(awk -v d="$DURATION" 'BEGIN { s = d / 30; if (s < 1) s = 1; printf "%.1f", s }'); fi
fi
[ -n "$WARMUP_S" ] || WARMUP_S=$(awk -v d="$DURATION" 'BEGIN { printf "%.1f", d / 10 }')
if [ -z "$KILL_EVERY" ]; then
  if [ "$DURATION" -ge 600 ]; then KILL_EVERY=60; else KILL_EVERY=$((DURATION / 5 < 5 ? 5 : DURATION / 5)); fi
fi
PY=/usr/bin/python3
WORKERS=(marie anga fabien)
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/troupe-soak.XXXXXX")}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
[ ! -e "$OUT/root" ] || { echo "error: $OUT holds an earlier soak (root/): give another --out" >&2; exit 2; }
ROOT=$OUT/root
LOGS=$OUT/logs
mkdir -p "$OUT/bin" "$OUT/src" "$OUT/nodes" "$LOGS" "$ROOT"
for w in "${WORKERS[@]}"; do mkdir -p "$ROOT/tasks/$w" "$ROOT/results/$w"; done
# A private copy: the build folder may be rebuilt during a long run.
cp "$CAF_IN" "$OUT/bin/caf-node"
[ ! -f "$(dirname "$CAF_IN")/libtroupe-gateway.so" ] || cp "$(dirname "$CAF_IN")/libtroupe-gateway.so" "$OUT/bin/"
cp -r "$SRC/config" "$SRC/prompts" "$OUT/src/"
BIN=$OUT/bin/caf-node
CFG=$OUT/src/config/troupe.json
AWAIT="$PY $SRC/tests/integration/await_results.py"
HELPER=$OUT/soak.py
: >"$OUT/procs.tsv"
: >"$OUT/timeline.log"
: >"$OUT/anomalies.log"
: >"$OUT/orch_ready.log"

# --- the Python half: sampler, results watch, load generator, drain, report ---
cat >"$HELPER" <<'PYEOF'
#!/usr/bin/python3
"""bench/soak.sh's helper (written by it into its output folder).

  sample  --t0 F --registry F --csv F --interval S     RSS and fds of each caf-node, every S s
  watch   --t0 F --root R --log F --ready F             every result written into results/<worker>/
  load    --t0 F --root R --producers EP --caf-node B   the mixed load, then its ledger
  drain   --ledger F --root R --timeout S               waits until every task has its result
  report  ...                                           the checks and the figures
"""
import argparse
import collections
import ctypes
import glob
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import time

WORKERS = ["marie", "anga", "fabien"]
IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO, IN_DELETE = 0x8, 0x40, 0x80, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED = 0x400, 0x800, 0x4000, 0x8000
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_t0(path):
    with open(path) as f:
        return float(f.read())


def inotify(dirs, mask):
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    wds = {}
    for d in dirs:
        wd = libc.inotify_add_watch(fd, os.fsencode(d), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + d)
        wds[wd] = d
    return fd, wds


def inotify_events(fd):
    out = []
    while True:
        try:
            buf = os.read(fd, 1 << 20)
        except BlockingIOError:
            return out
        i = 0
        while i + 16 <= len(buf):
            wd, mask, _cookie, n = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode(errors="replace")
            out.append((wd, mask, name))
            i += 16 + n


class Signals:
    """Signals as readable events for select()."""

    def __init__(self, sigs):
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self.r, self.got = r, set()
        signal.set_wakeup_fd(w)
        for s in sigs:
            signal.signal(s, lambda n, _f: self.got.add(n))

    def wait(self, timeout, fds=()):
        rl, _, _ = select.select([self.r, *fds], [], [], max(0.0, timeout))
        if self.r in rl:
            try:
                os.read(self.r, 512)
            except BlockingIOError:
                pass
        return rl


# ---------------------------------------------------------------- sample
def proc_field(pid, name):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_stat(pid):
    """(start time, CPU seconds used) from /proc/PID/stat, or (None, None)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[19], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None, None


def cmd_sample(a):
    t0 = read_t0(a.t0)
    new = not os.path.exists(a.csv) or os.path.getsize(a.csv) == 0
    out = open(a.csv, "a", buffering=1)
    if new:
        out.write("t_s,label,pid,rss_kb,fds,threads,cpu_s,phase\n")
    known = {}
    sig = Signals([signal.SIGUSR1, signal.SIGTERM])

    def take(phase):
        with open(a.registry) as f:
            regs = [line.split()[:2] for line in f if line.strip()]
        for label, pid in regs:
            st, cpu = proc_stat(pid)
            if st is None or known.setdefault(pid, st) != st:
                continue  # gone, or the pid is another process's now
            try:
                if not os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("caf-node"):
                    continue
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                continue
            rss, threads = proc_field(pid, "VmRSS"), proc_field(pid, "Threads")
            if rss is None:
                continue  # a zombie: killed, not yet reaped
            out.write(f"{time.time() - t0:.2f},{label},{pid},{rss},{fds},{threads},{cpu:.2f},{phase}\n")

    nxt = time.monotonic()
    while True:
        take("run")
        nxt += a.interval
        while not sig.got and time.monotonic() < nxt:
            sig.wait(nxt - time.monotonic())
        if signal.SIGUSR1 in sig.got:
            take("end")
            return 0
        if signal.SIGTERM in sig.got:
            return 0


# ---------------------------------------------------------------- watch
def cmd_watch(a):
    t0 = read_t0(a.t0)
    dirs = [os.path.join(a.root, "results", w) for w in WORKERS]
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    fd, wds = inotify(dirs, IN_MOVED_TO | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_DELETE
                      | IN_DELETE_SELF | IN_MOVE_SELF)
    out = open(a.log, "a", buffering=1)
    atomic_write(a.ready, "watching\n")
    sig = Signals([signal.SIGTERM, signal.SIGINT])
    kinds = [(IN_MOVED_TO, "MOVED_TO"), (IN_CLOSE_WRITE, "CLOSE_WRITE"), (IN_MOVED_FROM, "MOVED_FROM"),
             (IN_DELETE, "DELETE"), (IN_DELETE_SELF, "DIR_GONE"), (IN_MOVE_SELF, "DIR_GONE")]

    def drain():
        now = time.time() - t0
        for wd, mask, name in inotify_events(fd):
            if mask & IN_Q_OVERFLOW:
                out.write(f"{now:.3f} - - OVERFLOW\n")
                continue
            if mask & IN_IGNORED or name.startswith("."):
                continue  # troupe's temp files are dotfiles
            worker = os.path.basename(wds.get(wd, "?"))
            for bit, kind in kinds:
                if mask & bit:
                    out.write(f"{now:.3f} {worker} {name or '-'} {kind}\n")
                    break

    while not sig.got:
        sig.wait(5, [fd])
        drain()
    drain()
    return 0


# ---------------------------------------------------------------- load
def cmd_load(a):
    import zmq
    t0 = read_t0(a.t0)

    def rel():
        return round(time.time() - t0, 3)

    rates = {"drop": 0.45 * a.rate, "bridge": 0.33 * a.rate, "workflow": 0.17 * a.rate / 4,
             "cli": 0.05 * a.rate}
    L = {"rates": rates, "drops": {}, "bridge": {}, "workflows": {}, "cli": {}, "notifications": {},
         "reports": {}, "errors": [], "resends": [], "late_answers": 0, "anomalies": [], "status_rc": {},
         "last_ready": None, "notify_expected": [], "reports_expected": []}
    ctx = zmq.Context.instance()
    # One DEALER for the whole run: ZeroMQ reconnects it to each new
    # orchestrator on the same port. A SUBMIT that was in flight when the
    # orchestrator went away is lost without a word, so answers are matched
    # to requests by what they name (the task id; a workflow's task ids),
    # not by their order, and what has no answer after --accept-timeout is
    # sent again on the same socket (a resubmission is a no-op for a task
    # already there, PROTOCOL.md §4, §6).
    sock = [None]
    outstanding = {}               # key -> sent SUBMIT without an ACCEPTED yet
    pending = collections.deque()  # to send
    cli_dir = os.path.join(a.out, "cli")
    os.makedirs(cli_dir, exist_ok=True)
    cli_err = open(os.path.join(a.out, "logs", "cli.log"), "a")
    cli_running, cli_retry = {}, collections.deque()
    status_procs = []

    def anomaly(what):
        L["anomalies"].append(f"{rel():.1f} {what}")

    def new_socket():
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.sndhwm = 100000
        s.rcvhwm = 100000
        s.connect(a.producers)
        sock[0] = s

    def flush():
        while pending:
            e = pending[0]
            try:
                sock[0].send_multipart([b"TRP1", b"SUBMIT", e["body"]], zmq.NOBLOCK)
            except zmq.Again:
                return
            pending.popleft()
            e["t"] = time.monotonic()
            (L["bridge"] if e["kind"] == "task" else L["workflows"])[e["key"]]["sends"] += 1
            outstanding[e["key"]] = e

    def task(tid, worker, what, deps=()):
        return {"task_id": tid, "worker": worker, "description": f"Soak {what} {tid} for {worker}.",
                "dependencies": list(deps), "context": {"soak": True}}

    n = collections.Counter()

    def issue(kind):
        i = n[kind]
        n[kind] += 1
        if kind == "drop":
            w = WORKERS[i % 3]
            tid = f"d{i:06d}"
            deps = [f"d{i - 1:06d}"] if i % 10 == 9 else []
            d = os.path.join(a.root, "tasks", w)
            tmp = os.path.join(d, f".{tid}.json.tmp")
            with open(tmp, "w") as f:
                json.dump(task(tid, w, "drop", deps), f)
            os.rename(tmp, os.path.join(d, tid + ".json"))
            L["drops"][tid] = {"worker": w, "t": rel()}
        elif kind == "bridge":
            w = WORKERS[i % 3]
            tid = f"b{i:06d}"
            L["bridge"][tid] = {"worker": w, "sends": 0, "accepted": None, "existing": []}
            pending.append({"kind": "task", "key": tid,
                            "body": json.dumps({"task": task(tid, w, "bridge task"), "wait": True}).encode()})
        elif kind == "workflow":
            wid = f"w{i:05d}"
            ts = [task(f"{wid}-1", "marie", "workflow task"),
                  task(f"{wid}-2", "anga", "workflow task", [f"{wid}-1"]),
                  task(f"{wid}-3", "fabien", "workflow task", [f"{wid}-1"]),
                  task(f"{wid}-4", "marie", "workflow task", [f"{wid}-2", f"{wid}-3"])]
            L["workflows"][wid] = {"tasks": {t["task_id"]: t["worker"] for t in ts}, "sends": 0,
                                   "accepted": None, "runs": []}
            wf = {"name": f"soak-{wid}", "description": "soak diamond", "synthesize": False, "tasks": ts}
            pending.append({"kind": "workflow", "key": wid,
                            "body": json.dumps({"workflow": wf, "wait": True}).encode()})
        elif kind == "cli":
            w = WORKERS[i % 3]
            tid = f"c{i:06d}"
            with open(os.path.join(cli_dir, tid + ".json"), "w") as f:
                json.dump(task(tid, w, "caf-node submit"), f)
            L["cli"][tid] = {"worker": w, "rcs": [], "accepted": None}
            cli_retry.append((0.0, tid))

    def cli_step(now):
        for tid, p in list(cli_running.items()):
            rc = p.poll()
            if rc is None:
                continue
            del cli_running[tid]
            L["cli"][tid]["rcs"].append(rc)
            if rc == 0:
                L["cli"][tid]["accepted"] = rel()
            else:
                cli_retry.append((now + 1.0, tid))
        while cli_retry and len(cli_running) < 3 and cli_retry[0][0] <= now:
            _, tid = cli_retry.popleft()
            cli_running[tid] = subprocess.Popen(
                [a.caf_node, "submit", os.path.join(cli_dir, tid + ".json"), "--connect", a.producers],
                stdout=subprocess.DEVNULL, stderr=cli_err)
        for p in list(status_procs):
            rc = p.poll()
            if rc is not None:
                status_procs.remove(p)
                L["status_rc"][str(rc)] = L["status_rc"].get(str(rc), 0) + 1

    def on_message(frames):
        if len(frames) != 3 or frames[0] != b"TRP1":
            anomaly("a message that is not TRP1")
            return
        cmd, body = frames[1].decode(), json.loads(frames[2])
        if cmd == "ERROR":
            # Names no request: the one it answers is sent again when its
            # time is up. Every ERROR is a finding (these tasks are valid).
            L["errors"].append(f"{rel():.1f} {body.get('reason')}")
        elif cmd == "ACCEPTED":
            if "run_id" in body:
                ids = body.get("tasks") or ["?"]
                key = ids[0].rsplit("-", 1)[0]
                rec = L["workflows"].get(key)
                if rec is None or sorted(ids) != sorted(rec["tasks"]):
                    anomaly(f"ACCEPTED for run {body.get('run_id')} lists {ids}: no workflow submitted so")
                    return
                rec["runs"].append(body.get("run_id"))
            else:
                key = body.get("task_id")
                rec = L["bridge"].get(key)
                if rec is None or body.get("worker") != rec["worker"]:
                    anomaly(f"ACCEPTED for {key} ({body.get('worker')}): no task submitted so")
                    return
                rec["existing"].append(body.get("existing"))
            rec["accepted"] = rel()
            if outstanding.pop(key, None) is None:
                L["late_answers"] += 1  # a resent SUBMIT's first answer came after all
        elif cmd == "RESULT":
            r = body.get("result", {})
            L["notifications"].setdefault(r.get("task_id"), []).append(
                {"t": rel(), "worker": r.get("worker"), "status": r.get("status"),
                 "completed_at": r.get("completed_at")})
        elif cmd == "REPORT":
            L["reports"].setdefault(body.get("run_id"), []).append(
                {"t": rel(), "status": body.get("status"),
                 "tasks": [t.get("task_id") for t in body.get("report", {}).get("tasks", [])]})
        elif cmd != "HEARTBEAT":
            anomaly(f"unexpected {cmd}")

    def pump(timeout_s):
        s = sock[0]
        if s.poll(int(timeout_s * 1000)):
            while True:
                try:
                    frames = s.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                on_message(frames)
        late = [e for e in outstanding.values() if time.monotonic() - e["t"] > a.accept_timeout]
        if late:
            L["resends"].append(f"{rel():.1f} {len(late)} unanswered")
            for e in sorted(late, key=lambda e: e["t"]):
                del outstanding[e["key"]]
                pending.append(e)

    new_socket()
    start = time.monotonic()
    end = start + a.seconds
    next_status = start + a.status_every
    while True:
        now = time.monotonic()
        if now < end:
            el = now - start
            for kind, r in rates.items():
                while n[kind] < int(el * r):
                    issue(kind)
            if now >= next_status:
                next_status += a.status_every
                status_procs.append(subprocess.Popen(
                    [a.caf_node, "status", "--connect", a.producers, "--json"],
                    stdout=subprocess.DEVNULL, stderr=cli_err))
        elif not outstanding and not pending and not cli_running and not cli_retry:
            break
        elif now > end + a.finish_timeout:
            anomaly(f"at the end, {len(outstanding) + len(pending)} SUBMITs and {len(cli_running) + len(cli_retry)} "
                    "caf-node submits still unconfirmed")
            break
        flush()
        cli_step(now)
        pump(0.05)
    L["issued"] = dict(n)
    L["load_end"] = rel()
    for p in cli_running.values():
        p.kill()
    # What the last orchestrator instance accepted must be answered: a
    # RESULT per task, a REPORT per workflow (a restart loses the waiters).
    with open(a.orch_ready) as f:
        readies = [float(x) for x in f.read().split()]
    last = readies[-1] if readies else 0.0
    L["last_ready"] = last

    def answered_here(r):  # accepted by the last orchestrator
        return r["accepted"] is not None and r["accepted"] > last + 2

    want_n = [t for t, r in L["bridge"].items() if answered_here(r)]
    want_r = [w for w, r in L["workflows"].items() if answered_here(r)]
    L["notify_expected"], L["reports_expected"] = want_n, want_r
    deadline = time.monotonic() + a.notify_timeout
    while time.monotonic() < deadline:
        if all(t in L["notifications"] for t in want_n) and all(L["workflows"][w]["runs"][-1] in L["reports"]
                                                               for w in want_r):
            break
        pump(0.2)
    for p in status_procs:
        p.wait()
        L["status_rc"][str(p.returncode)] = L["status_rc"].get(str(p.returncode), 0) + 1
    atomic_write(a.ledger, json.dumps(L))
    sock[0].close(0)
    return 0


def expected(L):
    """(worker, task_id) -> how it was submitted, for every task known to
    be in; and the task ids whose submission was never confirmed."""
    exp, unconfirmed = {}, set()
    for tid, r in L["drops"].items():
        exp[(r["worker"], tid)] = "drop"
    for tid, r in L["bridge"].items():
        if r["accepted"] is not None:
            exp[(r["worker"], tid)] = "bridge"
        else:
            unconfirmed.add(tid)
    for _wid, r in L["workflows"].items():
        for tid, w in r["tasks"].items():
            if r["accepted"] is not None:
                exp[(w, tid)] = "workflow"
            else:
                unconfirmed.add(tid)
    for tid, r in L["cli"].items():
        if r["accepted"] is not None:
            exp[(r["worker"], tid)] = "cli"
        else:
            unconfirmed.add(tid)
    return exp, unconfirmed


def results_present(root):
    present = {}
    for w in WORKERS:
        d = os.path.join(root, "results", w)
        for name in os.listdir(d):
            if name.endswith(".json") and not name.startswith("."):
                present[(w, name[:-5])] = os.path.join(d, name)
    return present


# ---------------------------------------------------------------- drain
def cmd_drain(a):
    with open(a.ledger) as f:
        L = json.load(f)
    exp, _ = expected(L)
    dirs = [os.path.join(a.root, "results", w) for w in WORKERS]
    fd, _ = inotify(dirs, IN_MOVED_TO | IN_CLOSE_WRITE)
    t = time.monotonic()
    deadline = t + a.timeout
    while True:
        missing = set(exp) - set(results_present(a.root))
        if not missing:
            print(f"every one of {len(exp)} tasks has its result ({time.monotonic() - t:.1f} s after the load)")
            return 0
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"after {a.timeout:.0f} s, {len(missing)} of {len(exp)} tasks have no result", file=sys.stderr)
            return 1
        select.select([fd], [], [], min(left, 1.0))
        inotify_events(fd)


# ---------------------------------------------------------------- report
def fit(points):
    """Least squares y = a + b x; (b, standard error of b)."""
    n = len(points)
    if n < 3:
        return None, None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None, None
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    res = sum((y - (my + b * (x - mx))) ** 2 for x, y in points)
    return b, math.sqrt(res / (n - 2) / sxx)


def cmd_report(a):
    with open(a.ledger) as f:
        L = json.load(f)
    exp, unconfirmed = expected(L)
    fails = []
    # Results: written (the watch) and present (the folders).
    writes, other_ops, overflow = collections.Counter(), [], False
    with open(a.watch_log) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue
            _t, w, name, kind = parts
            if kind == "OVERFLOW":
                overflow = True
            elif kind in ("MOVED_TO", "CLOSE_WRITE") and name.endswith(".json"):
                writes[(w, name[:-5])] += 1
            else:
                other_ops.append(line.strip())
    present = results_present(a.root)
    lost = sorted(k for k in exp if k not in present)
    dup = sorted(k for k, c in writes.items() if c > 1)
    unseen = sorted(k for k in present if writes[k] == 0)
    extra = sorted(k for k in present if k not in exp and k[1] not in unconfirmed)
    unconf_in = sorted(k for k in present if k not in exp and k[1] in unconfirmed)
    status, not_complete, results = collections.Counter(), [], {}
    for k, p in present.items():
        with open(p) as f:
            r = json.load(f)
        results[k] = r
        status[r.get("status")] += 1
        if r.get("status") != "complete":
            not_complete.append(f"{k[0]}/{k[1]}: {r.get('status')} {r.get('error', {}).get('kind', '')}")
    attempts = collections.Counter(r.get("attempt", 1) for r in results.values())
    running = collections.Counter()
    for log in glob.glob(os.path.join(a.root, "runs", "orchestrator-*", "events*.jsonl")):
        with open(log) as f:
            for line in f:
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("event") == "running":
                    running[(j.get("worker"), j.get("task_id"))] += 1
    ran_again = sum(1 for k in exp if running[k] > 1)
    if lost:
        fails.append(f"{len(lost)} task(s) lost (no result): " + " ".join(f"{w}/{t}" for w, t in lost[:20]))
    if dup:
        fails.append(f"{len(dup)} result(s) written more than once: "
                     + " ".join(f"{w}/{t} x{writes[(w, t)]}" for w, t in dup[:20]))
    if overflow:
        fails.append("the results watch overflowed: the duplicate check is incomplete")
    if unseen:
        fails.append(f"{len(unseen)} result(s) the watch never saw written: " + " ".join(f"{w}/{t}" for w, t in unseen[:10]))
    if extra:
        fails.append(f"{len(extra)} result(s) of tasks never submitted: " + " ".join(f"{w}/{t}" for w, t in extra[:10]))
    if other_ops:
        fails.append(f"{len(other_ops)} result(s) removed or renamed away: " + "; ".join(other_ops[:5]))
    if not_complete:
        fails.append(f"{len(not_complete)} result(s) not complete: " + "; ".join(not_complete[:10]))
    # What the producer was told.
    mismatch, notif_dup = [], []
    for tid, ns in L["notifications"].items():
        r = L["bridge"].get(tid)
        if r is None:
            mismatch.append(f"{tid}: notified, never submitted with wait")
            continue
        if len(ns) > r["sends"]:
            notif_dup.append(f"{tid} x{len(ns)} for {r['sends']} SUBMIT(s)")
        f = results.get((r["worker"], tid))
        for nt in ns:
            if f is None or nt["status"] != f.get("status") or nt["completed_at"] != f.get("completed_at"):
                mismatch.append(f"{tid}: notified {nt['status']} {nt['completed_at']}, the file says "
                                + (f"{f.get('status')} {f.get('completed_at')}" if f else "nothing"))
    not_notified = [t for t in L["notify_expected"] if t not in L["notifications"]]
    no_report, bad_report = [], []
    for w in L["reports_expected"]:
        reps = L["reports"].get(L["workflows"][w]["runs"][-1])
        if not reps:
            no_report.append(w)
        elif reps[-1]["status"] != "complete" or sorted(reps[-1]["tasks"]) != sorted(L["workflows"][w]["tasks"]):
            bad_report.append(f"{w}: {reps[-1]['status']} {reps[-1]['tasks']}")
    for what, items in (("RESULT notification(s) that differ from the result file", mismatch),
                        ("task(s) notified more often than submitted", notif_dup),
                        ("task(s) accepted by the last orchestrator never notified", not_notified),
                        ("workflow(s) accepted by the last orchestrator without a REPORT", no_report),
                        ("REPORT(s) not complete or not listing the workflow's tasks", bad_report),
                        ("SUBMIT(s) answered ERROR", L["errors"]),
                        ("load generator anomalies", L["anomalies"])):
        if items:
            fails.append(f"{len(items)} {what}: " + "; ".join(map(str, items[:10])))
    with open(a.anomalies) as f:
        bash_anomalies = [x.strip() for x in f if x.strip()]
    if bash_anomalies:
        fails.append(f"{len(bash_anomalies)} run anomalies: " + "; ".join(bash_anomalies[:10]))
    with open(a.leftover) as f:
        leftover = [x.strip() for x in f if x.strip()]
    if leftover:
        fails.append(f"{len(leftover)} file(s) left in tasks/ after the stop: " + " ".join(leftover[:10]))
    # Processes: RSS and descriptors.
    starts = {}
    with open(a.registry) as f:
        for line in f:
            label, _pid, t = line.split()[:3]
            starts[label] = float(t)
    series = collections.defaultdict(list)
    with open(a.csv) as f:
        next(f)
        for line in f:
            t, label, _pid, rss, fds, threads, cpu, phase = line.strip().split(",")
            series[label].append((float(t), int(rss), int(fds), int(threads), phase, float(cpu)))
    procs = []
    for label in sorted(series, key=lambda s: (starts.get(s, 0), s)):
        ss = series[label]
        st = starts.get(label, ss[0][0])
        used = [s for s in ss if s[0] >= st + a.warmup_s] or ss[-1:]
        alive = ss[-1][4] == "end"
        slope, se = fit([(s[0] / 3600, s[1] / 1024) for s in used])
        # The same over the later half: does the growth go on, or settle?
        slope2, se2 = fit([(s[0] / 3600, s[1] / 1024) for s in used[len(used) // 2:]])
        p = {"label": label, "start_s": round(st, 1), "last_s": ss[-1][0], "alive_at_end": alive,
             "samples": len(ss), "samples_fitted": len(used) if slope is not None else 0,
             "rss_first_mb": round(used[0][1] / 1024, 2), "rss_last_mb": round(ss[-1][1] / 1024, 2),
             "rss_max_mb": round(max(s[1] for s in ss) / 1024, 2),
             "rss_slope_mb_h": None if slope is None else round(slope, 3),
             "rss_slope_se": None if se is None else round(se, 3),
             "rss_slope_late_mb_h": None if slope2 is None else round(slope2, 3),
             "rss_slope_late_se": None if se2 is None else round(se2, 3),
             "fds_first": used[0][2], "fds_last": ss[-1][2], "fds_min": min(s[2] for s in ss),
             "fds_max": max(s[2] for s in ss), "threads_first": used[0][3], "threads_last": ss[-1][3],
             "cpu_pct": round(100 * (ss[-1][5] - ss[0][5]) / (ss[-1][0] - ss[0][0]), 1) if len(ss) > 1 else None}
        procs.append(p)
        if alive and p["fds_last"] > p["fds_first"] + a.fd_tolerance:
            fails.append(f"{label}: descriptors grew from {p['fds_first']} to {p['fds_last']}")
        if alive and a.max_rss_slope is not None and slope is not None and slope > a.max_rss_slope:
            fails.append(f"{label}: RSS grows {slope:.2f} MB/h (limit {a.max_rss_slope})")
        if alive and p["threads_last"] > p["threads_first"]:
            fails.append(f"{label}: threads grew from {p['threads_first']} to {p['threads_last']}")
    with open(a.timeline) as f:
        timeline = [x.split() for x in f if x.strip()]
    kills = sum(1 for x in timeline if x[1:3] == ["kill", "-9"] and x[3].endswith("-b"))
    orch_term = sum(1 for x in timeline if x[1:4] == ["orchestrator", "stop", "TERM"])
    orch_kill = sum(1 for x in timeline if x[1:4] == ["orchestrator", "stop", "KILL"])
    by_source = collections.Counter(exp.values())
    dur = a.duration
    summary = {
        "duration_s": a.duration, "rate_target": a.rate, "rates": L["rates"], "issued": L["issued"],
        "tasks_expected": len(exp), "by_source": dict(by_source), "unconfirmed_submissions": len(unconfirmed),
        "unconfirmed_with_result": len(unconf_in), "results": len(present), "status": dict(status),
        "lost": len(lost), "duplicated": len(dup), "ran_more_than_once": ran_again,
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
        "notifications": sum(len(v) for v in L["notifications"].values()),
        "notify_expected": len(L["notify_expected"]), "not_notified": len(not_notified),
        "notify_mismatch": len(mismatch), "notify_dup": len(notif_dup),
        "reports": sum(len(v) for v in L["reports"].values()), "reports_expected": len(L["reports_expected"]),
        "resends": len(L["resends"]), "late_answers": L["late_answers"], "submit_errors": len(L["errors"]), "status_rc": L["status_rc"],
        "node_kills": kills, "orchestrator_term": orch_term, "orchestrator_kill": orch_kill,
        "warmup_s": a.warmup_s, "sample_s": a.sample_s, "fd_tolerance": a.fd_tolerance,
        "processes": procs, "failures": fails, "ok": not fails}
    atomic_write(a.summary, json.dumps(summary, indent=2) + "\n")
    # The text.
    P = []
    P.append(f"soak: {a.duration} s of load at {a.rate:g} tasks/s aimed ({', '.join(f'{k} {v:.2f}/s' for k, v in L['rates'].items())}), "
             f"sim latency {a.sim_latency_ms} ms, samples every {a.sample_s:g} s, warm-up {a.warmup_s:g} s")
    P.append(f"tasks: {len(exp)} submitted ({', '.join(f'{k} {v}' for k, v in sorted(by_source.items()))}), "
             f"{len(present)} results ({', '.join(f'{k} {v}' for k, v in sorted(status.items(), key=str))}); "
             f"lost {len(lost)}, duplicated {len(dup)}; {len(unconfirmed)} submission(s) never confirmed "
             f"({len(unconf_in)} of them have a result)")
    P.append(f"  {len(exp) / max(dur, 1):.1f} tasks/s over {dur:.0f} s; ran more than once (allowed: at-least-once) {ran_again}; "
             f"attempts {dict(summary['attempts'])}; SUBMITs without an answer in time sent again {len(L['resends'])} time(s) "
             f"({L['late_answers']} answered late after all)")
    P.append(f"  producer: {summary['notifications']} RESULT notifications, {len(L['notify_expected'])} expected after the last "
             f"restart, {len(not_notified)} missing; {summary['reports']} REPORTs, {len(L['reports_expected'])} expected, "
             f"{len(no_report)} missing; caf-node status exits {L['status_rc']}")
    P.append(f"faults: {kills} worker-node SIGKILLs, orchestrator SIGTERM x{orch_term} and SIGKILL x{orch_kill}")
    for x in timeline:
        if x[1] == "orchestrator" or (len(x) > 1 and x[1] == "stop"):
            P.append("  " + " ".join(x))
    P.append("")
    P.append(f"{'process':<16} {'from s':>7} {'to s':>7} {'n':>4} {'RSS first':>9} {'last':>7} {'max':>7} "
             f"{'slope MB/h':>17} {'later half':>17} {'fds first':>9} {'last':>5} {'max':>5} {'thr':>7} {'CPU':>6}")
    for p in procs:
        sl = "-" if p["rss_slope_mb_h"] is None else f"{p['rss_slope_mb_h']:+.2f} ± {p['rss_slope_se']:.2f}"
        sl2 = "-" if p["rss_slope_late_mb_h"] is None else f"{p['rss_slope_late_mb_h']:+.2f} ± {p['rss_slope_late_se']:.2f}"
        P.append(f"{p['label']:<16} {p['start_s']:>7.1f} {p['last_s']:>7.1f} {p['samples_fitted']:>4} "
                 f"{p['rss_first_mb']:>9.2f} {p['rss_last_mb']:>7.2f} {p['rss_max_mb']:>7.2f} {sl:>17} {sl2:>17} "
                 f"{p['fds_first']:>9} {p['fds_last']:>5} {p['fds_max']:>5} "
                 f"{str(p['threads_first']) + '/' + str(p['threads_last']):>7} "
                 f"{'-' if p['cpu_pct'] is None else str(p['cpu_pct']) + '%':>6}"
                 + ("" if p["alive_at_end"] else "  (killed or restarted)"))
    P.append("(slope: least squares over the samples after each process's warm-up, ± its standard error; later half: "
             "the same over the second half of those samples; "
             "fds first: the first sample after the warm-up, under load; last: idle, after the load; "
             "thr: threads first/last; CPU: of one core, over the process's samples)")
    P.append("")
    long = [p for p in procs if p["alive_at_end"] and p["rss_slope_mb_h"] is not None]
    orch = [p for p in long if p["label"].startswith("orchestrator")]
    nodes = [p for p in long if not p["label"].startswith("orchestrator")]
    stable = [p for p in nodes if p["label"].split("#")[0].endswith("-a")]

    def span(ps, key, fmt="{:+.2f}"):
        lo, hi = fmt.format(min(p[key] for p in ps)), fmt.format(max(p[key] for p in ps))
        return lo if lo == hi else f"{lo} to {hi}"

    row = "(no long-lived process was sampled)"
    if orch and stable:
        o = orch[-1]
        row = (f"| soak, {a.duration // 60 if a.duration >= 120 else a.duration} {'min' if a.duration >= 120 else 's'}: "
               f"{len(exp):,} tasks ({by_source.get('drop', 0):,} dropped, {by_source.get('bridge', 0) + by_source.get('cli', 0):,} "
               f"submitted, {by_source.get('workflow', 0):,} in workflows), {kills} node SIGKILLs, orchestrator SIGTERM + SIGKILL "
               f"| {len(lost)} lost, {len(dup)} duplicated; RSS slope: orchestrator {o['rss_slope_mb_h']:+.2f} ± {o['rss_slope_se']:.2f} MB/h "
               f"({o['rss_first_mb']:.1f} → {o['rss_last_mb']:.1f} MB over its {o['last_s'] - o['start_s']:.0f} s), "
               f"worker nodes {span(stable, 'rss_slope_mb_h')} MB/h ({span(stable, 'rss_first_mb', '{:.1f}')} → "
               f"{span(stable, 'rss_last_mb', '{:.1f}')} MB); descriptors orchestrator {o['fds_first']} → {o['fds_last']}, "
               f"nodes {span(stable, 'fds_first', '{}')} → {span(stable, 'fds_last', '{}')} "
               f"| 0 lost / 0 duplicated, no growth beyond noise | `bench/soak.sh build/caf-node .{'' if a.duration == 1800 else ' --seconds ' + str(a.duration)}`, "
               f"{time.strftime('%Y-%m-%d')} |")
    P.append("README row:")
    P.append(row)
    P.append("")
    if fails:
        P.append("FAILED:")
        P.extend("  - " + x for x in fails)
    else:
        P.append("OK: every task has exactly one result, complete; no descriptor growth")
    text = "\n".join(P) + "\n"
    with open(a.text, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0 if not fails else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--t0", required=True)
    s.add_argument("--registry", required=True)
    s.add_argument("--csv", required=True)
    s.add_argument("--interval", type=float, default=10)
    s = sub.add_parser("watch")
    s.add_argument("--t0", required=True)
    s.add_argument("--root", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--ready", required=True)
    s = sub.add_parser("load")
    s.add_argument("--t0", required=True)
    s.add_argument("--root", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--producers", required=True)
    s.add_argument("--caf-node", required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--rate", type=float, default=18)
    s.add_argument("--ledger", required=True)
    s.add_argument("--orch-ready", required=True)
    s.add_argument("--accept-timeout", type=float, default=6)
    s.add_argument("--finish-timeout", type=float, default=90)
    s.add_argument("--notify-timeout", type=float, default=60)
    s.add_argument("--status-every", type=float, default=15)
    s = sub.add_parser("drain")
    s.add_argument("--ledger", required=True)
    s.add_argument("--root", required=True)
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("report")
    for opt in ("ledger", "root", "watch-log", "csv", "registry", "timeline", "anomalies", "leftover",
                "summary", "text"):
        s.add_argument("--" + opt, required=True)
    s.add_argument("--duration", type=int, required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--sim-latency-ms", type=int, required=True)
    s.add_argument("--sample-s", type=float, required=True)
    s.add_argument("--warmup-s", type=float, required=True)
    s.add_argument("--fd-tolerance", type=int, required=True)
    s.add_argument("--max-rss-slope", type=float)
    a = ap.parse_args()
    return {"sample": cmd_sample, "watch": cmd_watch, "load": cmd_load, "drain": cmd_drain,
            "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
PYEOF

# --- processes ----------------------------------------------------------------
declare -A PID INC
HELPERS=()
cleanup() {
  local p
  for p in "${PID[@]}"; do [ -z "$p" ] || kill -9 "$p" 2>/dev/null || true; done
  for p in "${HELPERS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
T0_US=${EPOCHREALTIME/./}
echo "${EPOCHREALTIME}" >"$OUT/t0"
now_ms() { local t=${EPOCHREALTIME/./}; echo $(((t - T0_US) / 1000)); }
rel_s() { local t=${EPOCHREALTIME/./}; t=$(((t - T0_US) / 10000)); printf '%d.%02d' $((t / 100)) $((t % 100)); }
say() { # a line in the timeline, and on stdout
  local t
  t=$(rel_s)
  echo "$t $*" >>"$OUT/timeline.log"
  echo "[$t s] $*"
}
anomaly() { echo "$(rel_s) $*" >>"$OUT/anomalies.log"; say "ANOMALY: $*"; }
register() { # register <base> <pid>: a new series in the sampler's registry
  INC[$1]=$((${INC[$1]:-0} + 1))
  PID[$1]=$2
  echo "$1#${INC[$1]} $2 $(rel_s)" >>"$OUT/procs.tsv"
}
# await_exit <pid> [seconds]: sets rc (124: it did not end in time)
await_exit() {
  rc=0
  timeout "${2:-60}" tail --pid="$1" -f /dev/null && wait "$1" 2>/dev/null || rc=$?
}
read -r W_PORT P_PORT < <("$PY" -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
W_EP=tcp://127.0.0.1:$W_PORT
P_EP=tcp://127.0.0.1:$P_PORT

start_orch() {
  rm -f "$ROOT/orch.ready"
  "$BIN" orchestrator --root "$ROOT" --config "$CFG" --workers "$W_EP" --producers "$P_EP" \
    --events 'tcp://127.0.0.1:*' --ready-file "$ROOT/orch.ready" >>"$LOGS/orchestrator.log" 2>&1 &
  register orchestrator $!
  local t=$EPOCHREALTIME
  if $AWAIT --timeout 30 "$ROOT/orch.ready" 2>>"$LOGS/await.log"; then
    echo "$(rel_s)" >>"$OUT/orch_ready.log"
    say "orchestrator ready (pid ${PID[orchestrator]}) in $(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
  else
    anomaly "orchestrator #${INC[orchestrator]} not ready within 30 s"
  fi
}
start_node() { # start_node <base>: <worker>-a or <worker>-b
  local base=$1 dir=$OUT/nodes/$1
  mkdir -p "$dir"
  rm -f "$dir/ready"
  "$BIN" worker "${base%-*}" --connect "$W_EP" --root "$dir" --config "$CFG" --executor sim \
    --sim-latency-ms "$LATENCY" --node "$base.$((${INC[$base]:-0} + 1))" --ready-file "$dir/ready" \
    >>"$LOGS/$base.log" 2>&1 &
  register "$base" $!
}
await_nodes() { # await_nodes <what> <base>...: each connected (its ready file)
  local what=$1 b files=() t=$EPOCHREALTIME
  shift
  for b in "$@"; do files+=("$OUT/nodes/$b/ready"); done
  [ ${#files[@]} -gt 0 ] || return 0
  if $AWAIT --timeout 30 "${files[@]}" 2>>"$LOGS/await.log"; then
    say "$what: $* connected in $(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
  else
    anomaly "$what: not all of $* connected within 30 s"
  fi
}
alive_nodes() {
  local b
  for b in "${!PID[@]}"; do [ "$b" = orchestrator ] || [ -z "${PID[$b]}" ] || echo "$b"; done | sort
}
restart_orch() { # restart_orch TERM|KILL
  local how=$1 t=$EPOCHREALTIME pid=${PID[orchestrator]} nodes
  nodes=$(alive_nodes)
  say "orchestrator stop $how (pid $pid)"
  kill -"$how" "$pid"
  if [ "$how" = KILL ]; then
    wait "$pid" 2>/dev/null || true # gone: its ports are free
  else
    await_exit "$pid" 60
    say "orchestrator exited $rc after SIGTERM in $(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
    [ "$rc" -eq 0 ] || anomaly "orchestrator exited $rc on SIGTERM (not 0)"
  fi
  PID[orchestrator]=""
  for b in $nodes; do rm -f "$OUT/nodes/$b/ready"; done
  start_orch
  # shellcheck disable=SC2086
  await_nodes "after the orchestrator's restart" $nodes
}

# --- the run -----------------------------------------------------------------
echo "soak: $DURATION s, out $OUT (binary copied to $BIN)"
"$PY" "$HELPER" watch --t0 "$OUT/t0" --root "$ROOT" --log "$OUT/results-watch.log" --ready "$OUT/watch.ready" \
  2>>"$LOGS/helper.log" &
HELPERS+=($!)
WATCHER=$!
$AWAIT --timeout 30 "$OUT/watch.ready" || { echo "error: the results watch did not start" >&2; exit 1; }
"$PY" "$HELPER" sample --t0 "$OUT/t0" --registry "$OUT/procs.tsv" --csv "$OUT/samples.csv" --interval "$SAMPLE_S" \
  2>>"$LOGS/helper.log" &
HELPERS+=($!)
SAMPLER=$!
start_orch
for w in "${WORKERS[@]}"; do start_node "$w-a"; start_node "$w-b"; done
# shellcheck disable=SC2046
await_nodes "start" $(alive_nodes)
LOAD0=$(now_ms)
"$PY" "$HELPER" load --t0 "$OUT/t0" --root "$ROOT" --out "$OUT" --producers "$P_EP" --caf-node "$BIN" \
  --seconds "$DURATION" --rate "$RATE" --ledger "$OUT/ledger.json" --orch-ready "$OUT/orch_ready.log" \
  2>>"$LOGS/helper.log" &
HELPERS+=($!)
LOADER=$!
say "load started: $RATE tasks/s for $DURATION s; node kills every $KILL_EVERY s; orchestrator SIGTERM at $((DURATION * 15 / 100)) s, SIGKILL at $((DURATION * 30 / 100)) s"
TERM_AT=$((DURATION * 150))
KILL_AT=$((DURATION * 300))
NEXT_KILL=$((KILL_EVERY * 1000))
KILLS=0
declare -A RESTART_AT
while :; do
  el=$(($(now_ms) - LOAD0))
  [ "$el" -lt $((DURATION * 1000)) ] || break
  kill -0 "$LOADER" 2>/dev/null || { anomaly "the load generator ended early"; break; }
  if [ "$TERM_AT" -ge 0 ] && [ "$el" -ge "$TERM_AT" ]; then TERM_AT=-1; restart_orch TERM; continue; fi
  if [ "$KILL_AT" -ge 0 ] && [ "$el" -ge "$KILL_AT" ]; then KILL_AT=-1; restart_orch KILL; continue; fi
  if [ "$el" -ge "$NEXT_KILL" ] && [ "$el" -lt $((DURATION * 1000 - 6000)) ]; then
    base=${WORKERS[KILLS % 3]}-b
    NEXT_KILL=$((NEXT_KILL + KILL_EVERY * 1000))
    if [ -n "${PID[$base]:-}" ]; then
      say "kill -9 $base (pid ${PID[$base]})"
      kill -9 "${PID[$base]}"
      wait "${PID[$base]}" 2>/dev/null || true
      PID[$base]=""
      # 1 s: back before the orchestrator calls it dead (3 missed 1 s
      # beats); 5 s: after, its tasks requeued to <worker>-a meanwhile.
      RESTART_AT[$base]=$((el + (KILLS % 2 == 0 ? 1000 : 5000)))
      KILLS=$((KILLS + 1))
    fi
    continue
  fi
  for base in "${!RESTART_AT[@]}"; do
    if [ "$el" -ge "${RESTART_AT[$base]}" ]; then
      unset "RESTART_AT[$base]"
      start_node "$base"
      await_nodes "restart" "$base"
    fi
  done
  sleep 0.2 # the schedule's tick (the load paces itself)
done
for base in "${!RESTART_AT[@]}"; do start_node "$base"; await_nodes "restart" "$base"; done
say "load ends; awaiting the load generator's last confirmations"
await_exit "$LOADER" 300
[ "$rc" -eq 0 ] || anomaly "the load generator exited $rc"
[ -f "$OUT/ledger.json" ] || { anomaly "no ledger"; exit 1; }
if "$PY" "$HELPER" drain --ledger "$OUT/ledger.json" --root "$ROOT" --timeout 120 >"$OUT/drain.txt" 2>&1; then
  say "$(tail -1 "$OUT/drain.txt")"
else
  anomaly "$(tail -1 "$OUT/drain.txt")"
fi
# One interval idle, then the last sample: the descriptors at rest.
sleep "$SAMPLE_S"
kill -USR1 "$SAMPLER"
await_exit "$SAMPLER" 30
for b in $(alive_nodes); do kill -TERM "${PID[$b]}"; done
for b in $(alive_nodes); do
  await_exit "${PID[$b]}" 60
  say "stop $b: exit $rc"
  [ "$rc" -eq 0 ] || anomaly "$b exited $rc on SIGTERM"
  PID[$b]=""
done
kill -TERM "${PID[orchestrator]}"
await_exit "${PID[orchestrator]}" 60
say "stop orchestrator: exit $rc"
[ "$rc" -eq 0 ] || anomaly "the orchestrator exited $rc on the final SIGTERM"
PID[orchestrator]=""
kill -TERM "$WATCHER"
await_exit "$WATCHER" 30
find "$ROOT/tasks" -name '*.json' ! -path '*/.rejected/*' | sed "s|^$ROOT/||" >"$OUT/leftover.txt"
set +e
"$PY" "$HELPER" report --ledger "$OUT/ledger.json" --root "$ROOT" --watch-log "$OUT/results-watch.log" \
  --csv "$OUT/samples.csv" --registry "$OUT/procs.tsv" --timeline "$OUT/timeline.log" \
  --anomalies "$OUT/anomalies.log" --leftover "$OUT/leftover.txt" --summary "$OUT/summary.json" \
  --text "$OUT/report.txt" --duration "$DURATION" --rate "$RATE" --sim-latency-ms "$LATENCY" \
  --sample-s "$SAMPLE_S" --warmup-s "$WARMUP_S" --fd-tolerance "$FD_TOL" ${MAX_SLOPE:+--max-rss-slope "$MAX_SLOPE"}
status=$?
echo "output: $OUT"
exit $status

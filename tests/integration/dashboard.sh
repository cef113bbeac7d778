#!/usr/bin/env bash
# The dashboard page of `serve --http` in headless Chromium (Debian's), on
# the simulator: it loads from the binary alone, shows the workers and the
# run, draws the DAG with its edges, a task's state changes live as it
# completes, a task's details open on a click, and the approve button
# works. Screenshots go to <build>/test-output/dashboard/.
source "$(dirname "$0")/lib.sh"
AWAIT="$PY $SRC/tests/integration/await_results.py"
if ! command -v chromium >/dev/null; then
  fail "chromium is not installed (make deps installs it)"
  finish
fi
OUT=$(dirname "$CAF_NODE")/test-output/dashboard
rm -rf "$OUT"
mkdir -p "$OUT"

root=$(fresh_root dash)
cat >"$root/cfg.json" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md"}, "anga": {"prompt": "$SRC/prompts/ANGA.md"},
             "fabien": {"prompt": "$SRC/prompts/FABIEN.md", "approve": true}}}
JSON
"$CAF_NODE" serve --root "$root" --config "$root/cfg.json" --executor sim --sim-latency-ms 3000 \
  --http 127.0.0.1:0 --ready-file "$root/ready" 2>>"$root/serve.log" &
PIDS+=("$!")
$AWAIT --timeout 30 "$root/ready" >/dev/null || { fail "serve --http did not start in 30 s"; tail -30 "$root/serve.log"; finish; }
URL=$(jq -r .http "$root/ready")

# The browser runs the checks; each prints "ok …" or "FAIL …".
"$PY" - "$URL" "$WORK/chrome" "$OUT" "$root" "$SRC" >"$WORK/checks.txt" 2>"$WORK/browser.log" <<'PY' || true
import json, os, subprocess, sys
sys.path.insert(0, os.path.join(sys.argv[5], "tests", "integration"))
from cdp import Browser
url, profile, out, root = sys.argv[1:5]
def ok(cond, what):
    print(("ok " if cond else "FAIL ") + what, flush=True)
def drop(worker, tid, deps=()):
    tmp = f"{root}/tasks/{worker}/.{tid}.tmp"
    with open(tmp, "w") as f:
        json.dump({"task_id": tid, "worker": worker, "description": f"Task {tid}.", "dependencies": list(deps)}, f)
    os.rename(tmp, f"{root}/tasks/{worker}/{tid}.json")
b = Browser(profile)
try:
    b.open(url + "/")
    ok(b.wait("document.title") == "troupe", "the page loads from the binary, offline")
    ok(b.wait("document.querySelectorAll('#workers tr[data-worker]').length") == 3,
       "it lists the three workers")
    # The page is open before the first task: the run appears live.
    b.wait("document.querySelector('#conn').textContent === 'live'")
    drop("marie", "d1")
    state = lambda key: f"(document.querySelector('g.task[data-task=\"{key}\"]') || {{}}).dataset?.state"
    ok(b.wait(state("marie/d1") + " === 'running'"), "the run's DAG shows d1 running")
    ok(b.wait("document.querySelector('#runs tr.run.selected')?.dataset.run").startswith("serve-"),
       "the run that began is listed and shown")
    b.screenshot(out + "/1-running.png")
    # d2 depends on d1: an edge is drawn once both are known.
    drop("anga", "d2", ["d1"])
    ok(b.wait(state("anga/d2")), "a task dropped now appears live")
    ok(b.wait(state("marie/d1") + " === 'complete'", 20), "d1 turns complete live, from the stream")
    ok(b.wait(state("anga/d2") + " === 'complete'", 20), "... and d2 after it")
    ok(b.wait("document.querySelectorAll('#dag line').length") == 1, "the DAG has d2's edge from d1")
    ok(b.eval("document.querySelectorAll('#timeline rect.attempt').length") >= 2,
       "the timeline has a bar per attempt")
    b.eval("document.querySelector('g.task[data-task=\"marie/d1\"]').dispatchEvent(new MouseEvent('click'))")
    ok(b.wait("document.querySelector('#task tr[data-field=state] td')?.textContent") == "complete",
       "a click opens the task: its state")
    ok(b.wait("document.querySelector('#task tr[data-field=summary] td')?.textContent").startswith("[simulated] marie handled d1"),
       "... its summary, as in its result")
    ok(b.eval("document.querySelectorAll('#findings li').length") == 2, "... and its findings")
    b.screenshot(out + "/2-task.png")
    # An action: fabien's tasks wait for approval; approve it in the page.
    drop("fabien", "f1")
    ok(b.wait(state("fabien/f1") + " === 'awaiting_approval'"), "a task awaiting approval shows so")
    b.eval("document.querySelector('g.task[data-task=\"fabien/f1\"]').dispatchEvent(new MouseEvent('click'))")
    ok(b.wait("!!document.querySelector('#task button[data-action=approve]')"), "... with an approve button")
    b.screenshot(out + "/3-awaiting.png")
    b.eval("document.querySelector('#task button[data-action=approve]').click()")
    ok(b.wait(state("fabien/f1") + " === 'complete'", 20), "approved in the page, it runs to complete")
    ok(json.load(open(f"{root}/results/fabien/f1.json"))["status"] == "complete", "... as its result says")
    b.screenshot(out + "/4-approved.png")
finally:
    b.close()
PY
read_checks "$WORK/checks.txt"
if ! grep -q . "$WORK/checks.txt" || grep -q Traceback "$WORK/browser.log"; then
  fail "the browser script ran to its end: $(tail -3 "$WORK/browser.log")"
fi
check "the screenshots are saved in $OUT" bash -c "[ \$(ls '$OUT'/*.png | wc -l) -eq 4 ]"
finish

#!/usr/bin/python3
"""Submit a workflow to a troupe orchestrator and wait for its report.

  submit_workflow.py workflows/parallel-demo.json [--timeout-s N] [--connect tcp://host:5556]

Prints the report (report.json's shape) on stdout. Exit 0 when every task
completed, 1 when some did not or no report came in time, 2 when refused.
"""
import argparse
import json
import sys

import troupe_wire as tw


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", help="a workflow file (JSON)")
    ap.add_argument("--timeout-s", type=float, default=3600)
    tw.add_connection_args(ap)
    args = ap.parse_args()
    wf = tw.load_json(args.file)
    s = tw.connect(args)
    body = tw.submit(s, args, {"workflow": wf, "wait": True})
    print(f"accepted as run {body['run_id']}: {len(body['tasks'])} tasks", file=sys.stderr)
    while True:
        answer = tw.recv(s, args.timeout_s)
        if answer is None:
            sys.exit(f"error: no report within {args.timeout_s} s (the run goes on)")
        cmd, body = answer
        if cmd == "REPORT":
            break
    print(json.dumps(body["report"], indent=2))
    sys.exit(0 if body["status"] == "complete" else 1)


if __name__ == "__main__":
    main()

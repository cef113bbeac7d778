#!/usr/bin/python3
"""Submit one task to a troupe orchestrator; with --wait, print its result.

  submit_task.py task.json [--wait] [--timeout-s N] [--connect tcp://host:5556]
  submit_task.py --worker marie --task-id eval-001 --description "..." --wait

Exit 0 when accepted (with --wait: when the result is complete), 1 when the
task failed or no answer came in time, 2 when the task was refused.
"""
import argparse
import json
import sys

import troupe_wire as tw


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", help="a task file (JSON); or use --worker/--task-id/--description")
    ap.add_argument("--worker")
    ap.add_argument("--task-id")
    ap.add_argument("--description")
    ap.add_argument("--wait", action="store_true", help="wait for the result and print it")
    ap.add_argument("--timeout-s", type=float, default=3600)
    tw.add_connection_args(ap)
    args = ap.parse_args()
    if args.file:
        task = tw.load_json(args.file)
    elif args.worker and args.task_id and args.description:
        task = {"task_id": args.task_id, "worker": args.worker, "description": args.description}
    else:
        ap.error("give a task file, or --worker, --task-id and --description")
    s = tw.connect(args)
    body = tw.submit(s, args, {"task": task, "wait": args.wait})
    print(json.dumps(body), file=sys.stderr)
    if not args.wait:
        return
    answer = tw.recv(s, args.timeout_s)
    if answer is None:
        sys.exit(f"error: no result within {args.timeout_s} s (the task goes on)")
    cmd, body = answer
    print(json.dumps(body.get("result", body), indent=2))
    sys.exit(0 if body.get("result", {}).get("status") == "complete" else 1)


if __name__ == "__main__":
    main()

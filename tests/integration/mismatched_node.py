"""A worker node that answers each TASK with a RESULT for another task id,
as a buggy node might. Written from docs/PROTOCOL.md alone; PROTOCOL.md §6
says a task is never held by a result it cannot read.

usage: mismatched_node.py <workers endpoint> <worker>
"""
import sys

from fake_node import send, serve


def main():
    endpoint, worker = sys.argv[1:3]

    def on_message(s, cmd, body):
        if cmd != "TASK":
            return
        send(s, "RESULT", {"ticket": body["ticket"], "result": {
            "task_id": "not-" + body["task"]["task_id"], "worker": worker,
            "status": "complete", "output": "for another task"}})

    serve(endpoint, {"worker": worker, "slots": 1, "node": worker + "@mismatched"}, on_message)


if __name__ == "__main__":
    main()

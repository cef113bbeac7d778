"""A worker node that is stopping but whose DRAIN got lost, as the
orchestrator sees one: it says READY, keeps up its heartbeats, and answers
every TASK with the RESULT a stopping node gives (cancelled, error.kind
"stopping", not run). Written from docs/PROTOCOL.md alone. SIGTERM: it says
DISCONNECT and leaves.

usage: stopping_node.py <workers endpoint> <worker> <first-answer file> <second-task file>
"""
import sys

from fake_node import send, serve


def main():
    endpoint, worker, answered, second = sys.argv[1:5]
    tasks = 0

    def on_message(s, cmd, body):
        nonlocal tasks
        if cmd != "TASK":
            return
        task = body["task"]
        send(s, "RESULT", {"ticket": body["ticket"], "result": {
            "task_id": task["task_id"], "worker": worker, "status": "cancelled",
            "error": {"kind": "stopping",
                      "message": "not started: worker " + worker + " is stopping"}}})
        tasks += 1
        with open(answered if tasks == 1 else second, "w") as f:
            f.write(task["task_id"] + "\n")

    serve(endpoint, {"worker": worker, "slots": 1, "node": worker + "@leaving", "running": []},
          on_message)


if __name__ == "__main__":
    main()

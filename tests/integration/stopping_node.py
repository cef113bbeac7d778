"""A worker node that is stopping but whose DRAIN got lost, as the
orchestrator sees one: it says READY, keeps up its heartbeats, and answers
every TASK with the RESULT a stopping node gives (cancelled, error.kind
"stopping", not run). Written from docs/PROTOCOL.md alone. SIGTERM: it says
DISCONNECT and leaves.

usage: stopping_node.py <workers endpoint> <worker> <first-answer file> <second-task file>
"""
import json
import signal
import sys
import time

import zmq

PROTOCOL = b"TRP1"
HEARTBEAT_S = 0.1


def send(s, cmd, body):
    s.send_multipart([PROTOCOL, cmd.encode(), json.dumps(body).encode()])


def main():
    endpoint, worker, answered, second = sys.argv[1:5]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.linger = 1000
    s.connect(endpoint)
    send(s, "READY", {"worker": worker, "slots": 1, "node": worker + "@leaving", "running": []})
    tasks = 0
    next_beat = time.monotonic()
    try:
        while True:
            if s.poll(int(HEARTBEAT_S * 1000)):
                _, cmd, body = s.recv_multipart()
                if cmd == b"TASK":
                    body = json.loads(body)
                    task = body["task"]
                    send(s, "RESULT", {"ticket": body["ticket"], "result": {
                        "task_id": task["task_id"], "worker": worker, "status": "cancelled",
                        "error": {"kind": "stopping",
                                  "message": "not started: worker " + worker + " is stopping"}}})
                    tasks += 1
                    with open(answered if tasks == 1 else second, "w") as f:
                        f.write(task["task_id"] + "\n")
            if time.monotonic() >= next_beat:
                send(s, "HEARTBEAT", {})
                next_beat = time.monotonic() + HEARTBEAT_S
    finally:
        send(s, "DISCONNECT", {"reason": "stopped"})


if __name__ == "__main__":
    main()

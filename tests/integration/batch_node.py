"""A worker node that takes its tasks in batches, written from
docs/PROTOCOL.md alone: it says READY with "batch": true, collects TASK and
TASKS messages until it holds <count> tasks, answers them all in one RESULTS
(the last result without its "status", so it does not decode, plus one entry
that is not an object, which the orchestrator must drop without harm), and
waits until every ticket is acknowledged. It then writes
what it saw to <report file>: the number of tasks in each message it got, and
the ACK messages. SIGTERM: it says DISCONNECT and leaves.

usage: batch_node.py <workers endpoint> <worker> <count> <report file>
"""
import json
import sys

from fake_node import send, serve


def result_for(worker, task):
    return {"task_id": task["task_id"], "worker": worker, "status": "complete",
            "summary": "done in a batch", "attempt": 1}


def main():
    endpoint, worker, count, report = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    held, sizes, acks, unacked = [], [], [], set()

    def on_message(s, cmd, body):
        nonlocal unacked
        if cmd == "TASK":
            entries = [body]
        elif cmd == "TASKS":
            entries = body["tasks"]
        elif cmd == "ACK":
            acks.append(body)
            unacked -= set(body.get("tickets", []))
            if not unacked:
                with open(report, "w") as f:
                    json.dump({"messages": sizes, "acks": acks}, f)
            return
        else:
            return
        sizes.append(len(entries))
        held.extend(entries)
        if len(held) == count:
            results = [{"ticket": e["ticket"], "result": result_for(worker, e["task"])}
                       for e in held]
            # The last one without its required "status": a result that
            # does not decode, which must fail its task, not hold it.
            del results[-1]["result"]["status"]
            send(s, "RESULTS", {"results": results + [1]})
            unacked = {e["ticket"] for e in held}

    serve(endpoint, {"worker": worker, "slots": count, "node": worker + "@batch",
                     "running": [], "batch": True}, on_message)


if __name__ == "__main__":
    main()

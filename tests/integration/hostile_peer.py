"""Bad messages from an unauthenticated peer, on both endpoints of a running
orchestrator, written from docs/PROTOCOL.md alone. Each must be answered
ERROR (§2) and change nothing else; after each, the orchestrator must still
answer a HEARTBEAT. Prints one line per probe: `<name>\t<command>\t<reason>`.
Usage: hostile_peer.py <workers endpoint> <producers endpoint>"""
import json
import sys

import zmq

PROTOCOL = b"TRP1"
WAIT_MS = 5000
ctx = zmq.Context.instance()


def dealer(endpoint):
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.connect(endpoint)
    return s


def recv(s, skip=(b"HEARTBEAT", b"ACK")):
    """The next message that is not a heartbeat or an ACK, or None."""
    while s.poll(WAIT_MS):
        frames = s.recv_multipart()
        if len(frames) == 3 and frames[1] not in skip:
            return frames[1].decode(), json.loads(frames[2])
    return None


def answer_of(endpoint, frames, sock=None, skip=(b"HEARTBEAT", b"ACK")):
    s = sock or dealer(endpoint)
    s.send_multipart(frames)
    got = recv(s, skip)
    if sock is None:
        s.close()
    return got


def alive(producers):
    return answer_of(producers, [PROTOCOL, b"HEARTBEAT", b"{}"], skip=()) == ("HEARTBEAT", {})


def msg(cmd, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return [PROTOCOL, cmd.encode(), raw]


def nested(n, open_=b"[", close=b"]"):
    return open_ * n + close * n


workers, producers = sys.argv[1], sys.argv[2]
task = {"task_id": "p1", "worker": "marie", "description": "a task"}
deep_obj = b'{"a":' * 100_000 + b"1" + b"}" * 100_000  # about 700 KB
producer_probes = [
    ("command not UTF-8", [PROTOCOL, b"\xff", b"{}"]),
    ("protocol id not UTF-8", [b"\xff", b"SUBMIT", b"{}"]),
    ("two frames", [PROTOCOL, b"STATUS"]),
    ("body not JSON", msg("SUBMIT", b"{")),
    ("body not an object", msg("SUBMIT", b"[1]")),
    ("number out of range", msg("SUBMIT", b'{"task": {"budget_usd": 1e400}}')),
    ("wait not a boolean", msg("SUBMIT", {"task": task, "wait": "yes"})),
    ("task and workflow", msg("SUBMIT", {"task": task, "workflow": {"tasks": [task]}})),
    ("RESULT worker a number", msg("RESULT", {"worker": 5, "task_id": "p1"})),
    ("CANCEL task_id a number", msg("CANCEL", {"worker": "marie", "task_id": 7})),
    ("task nested 100,000 deep", msg("SUBMIT", b'{"task":' + deep_obj + b"}")),
    ("context of 100,000 arrays",
     msg("SUBMIT", b'{"task": {"task_id": "p2", "worker": "marie", "description": "d", "context": '
         + nested(100_000) + b"}}")),
    ("task depends on itself",
     msg("SUBMIT", {"task": dict(task, task_id="self", dependencies=["self"])})),
    ("task fields of the wrong type",
     msg("SUBMIT", {"task": {"task_id": "p3", "worker": "marie", "description": 5}})),
]
failed = 0


def expect_errors(label, endpoint, probes, sock=None):
    """Each probe must be answered ERROR with a reason, and the orchestrator
    must answer a HEARTBEAT after it; one line per probe."""
    global failed
    for name, frames in probes:
        got = answer_of(endpoint, frames, sock)
        ok = got is not None and got[0] == "ERROR" and isinstance(got[1].get("reason"), str)
        print(f"{label} {name}\t{got[0] if got else '-'}\t{got[1].get('reason') if got else ''}")
        if not ok or not alive(producers):
            print(f"FAILED after {label} probe {name!r}", file=sys.stderr)
            failed += 1


expect_errors("producer", producers, producer_probes)

# The worker endpoint: READY refused (the node is not registered) ...
ready_probes = [
    ("READY slots two", {"worker": "marie", "slots": "two"}),
    ("READY slots 0", {"worker": "marie", "slots": 0}),
    ("READY slots -1", {"worker": "marie", "slots": -1}),
    ("READY slots 4294967297", {"worker": "marie", "slots": 4294967297}),
    ("READY slots 1e9", {"worker": "marie", "slots": 1e9}),
    ("READY running not a list", {"worker": "marie", "running": "41"}),
]
frames_probes = [
    ("protocol id not UTF-8", [b"\xff", b"READY", b"{}"]),
    ("body not JSON", msg("READY", b"{")),
    ("body not an object", msg("READY", b'"x"')),
    ("READY nested 100,000 deep", msg("READY", b'{"worker":' + deep_obj + b"}")),
]
for name, body in ready_probes:
    frames_probes.append((name, msg("READY", body)))
expect_errors("worker", workers, frames_probes)
status = answer_of(producers, msg("STATUS", {}))
print(f"status after refused READYs\t{status[0]}\t{len(status[1].get('nodes', []))} nodes"
      f"\t{'root' in status[1]}")

# ... and, from a registered node, bodies of the wrong type.
node = dealer(workers)
node.send_multipart(msg("READY", {"worker": "anga", "slots": 1, "node": "hostile"}))
registered_probes = [
    ("command not UTF-8", [PROTOCOL, b"\xff", b"{}"]),
    ("EVENT kind a number", msg("EVENT", {"kind": 5})),
    ("COOLDOWN wait_ms a string", msg("COOLDOWN", {"wait_ms": "x"})),
    ("SETTLE used a string", msg("SETTLE", {"used": "x"})),
    ("PERMIT prio a number", msg("PERMIT", {"id": "1", "ask": {"prio": 3}})),
    ("DRAIN reason a number", msg("DRAIN", {"reason": 1})),
    ("RESULT nested 100,000 deep", msg("RESULT", b'{"ticket": "1", "result": ' + deep_obj + b"}")),
    ("RESULTS of 100,000 arrays", msg("RESULTS", b'{"results": ' + nested(100_000) + b"}")),
]
expect_errors("node", workers, registered_probes, node)
status = answer_of(producers, msg("STATUS", {}))
nodes = status[1].get("nodes", [])
print(f"status after bad bodies\t{status[0]}\t{[n['node'] for n in nodes]}\t"
      f"{[n['draining'] for n in nodes]}")
node.send_multipart(msg("DISCONNECT", {"reason": "done"}))

# Every field of every body PROTOCOL.md names, given each JSON type in
# turn: whatever the answer, the orchestrator must answer the next
# HEARTBEAT. (A registered node's socket for the worker endpoint.)
ODD = [None, True, -1, 2**64, 1.5e308, "", "x" * 300, [], [1, [2]], {}, {"a": {"b": 1}}]
BODIES = {
    "producer": {
        # Refused in any case (no worker "nobody"), so nothing is written.
        "SUBMIT": {"task": dict(task, worker="nobody"), "wait": True},
        "RESULT": {"worker": "marie", "task_id": "p1"},
        "CANCEL": {"worker": "marie", "task_id": "p1"},
        "STATUS": {},
    },
    "worker": {
        "EVENT": {"kind": "running", "task_id": "t1", "detail": ""},
        "PERMIT": {"id": "7", "ask": {"model": "m", "prio": "high", "requests": 1,
                                      "input_tokens": 1, "output_tokens": 1}},
        "SETTLE": {"permit": {"id": "7"}, "used": {"requests": 1, "input_tokens": 1,
                                                  "output_tokens": 1}},
        "COOLDOWN": {"model": "m", "wait_ms": 10},
        "RESULT": {"ticket": "1", "result": {"task_id": "t1", "status": "complete"}},
        "RESULTS": {"results": [{"ticket": "1", "result": {"task_id": "t1"}}]},
        "DRAIN": {"reason": "r"},
        "READY": {"worker": "anga", "slots": 1, "node": "matrix", "running": [], "batch": True},
    },
}
probes = 0
# The fields of a task, and of a workflow's task, inside SUBMIT.
inner = dict(task, worker="nobody", context={}, dependencies=[], priority="high",
             timeout_s=5, budget_usd=1, model="m")
for field in inner:
    for odd in ODD:
        t = dict(inner, **{field: odd})
        for body in ({"task": t}, {"workflow": {"name": "w", "tasks": [t]}},
                     {"workflow": {"name": odd, "tasks": odd, "budget_usd": odd}}):
            answer_of(producers, msg("SUBMIT", body))
            probes += 1
            if not alive(producers):
                print(f"FAILED: no HEARTBEAT after SUBMIT {field}={odd!r}", file=sys.stderr)
                sys.exit(1)
matrix_node = dealer(workers)
matrix_node.send_multipart(msg("READY", {"worker": "anga", "slots": 1, "node": "matrix"}))
for side, bodies in BODIES.items():
    for cmd, body in bodies.items():
        for field in list(body) or [None]:
            for odd in ODD:
                b = dict(body)
                if field is not None:
                    b[field] = odd
                if side == "producer":
                    answer_of(producers, msg(cmd, b))
                else:
                    matrix_node.send_multipart(msg(cmd, b))
                    if cmd == "READY":  # registered again, as it was
                        matrix_node.send_multipart(
                            msg("READY", {"worker": "anga", "slots": 1, "node": "matrix"}))
                probes += 1
                if not alive(producers):
                    print(f"FAILED: no HEARTBEAT after {side} {cmd} {field}={odd!r}",
                          file=sys.stderr)
                    failed += 1
                    sys.exit(1)
# A node's messages are handled in order: once this is answered, all of
# the above were, and the orchestrator must still answer.
matrix_node.send_multipart(msg("NOPE", {}))
while True:
    got = recv(matrix_node, skip=())
    if got is None:
        print("FAILED: the worker matrix's last message was not answered", file=sys.stderr)
        sys.exit(1)
    if got == ("ERROR", {"reason": 'unknown command "NOPE"'}):
        break
matrix_node.send_multipart(msg("DISCONNECT", {"reason": "done"}))
if not alive(producers):
    print("FAILED: no HEARTBEAT after the worker matrix", file=sys.stderr)
    sys.exit(1)
print(f"matrix\t{probes} probes\tanswered after each")
sys.exit(1 if failed else 0)

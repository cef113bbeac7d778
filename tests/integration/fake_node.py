"""What every fake worker node in these tests does the same way, from
docs/PROTOCOL.md alone: connect a DEALER, say READY, keep up heartbeats,
hand each message to the node's own code, and say DISCONNECT on SIGTERM."""
import json
import signal
import sys
import time

import zmq

PROTOCOL = b"TRP1"
HEARTBEAT_S = 0.1


def send(s, cmd, body):
    s.send_multipart([PROTOCOL, cmd.encode(), json.dumps(body).encode()])


def serve(endpoint, ready, on_message):
    """READY `ready`, then on_message(socket, command, body) for each message
    until SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.linger = 1000
    s.connect(endpoint)
    send(s, "READY", ready)
    next_beat = time.monotonic()
    try:
        while True:
            if s.poll(int(HEARTBEAT_S * 1000)):
                _, cmd, body = s.recv_multipart()
                on_message(s, cmd.decode(), json.loads(body))
            if time.monotonic() >= next_beat:
                send(s, "HEARTBEAT", {})
                next_beat = time.monotonic() + HEARTBEAT_S
    finally:
        send(s, "DISCONNECT", {"reason": "stopped"})

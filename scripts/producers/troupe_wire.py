"""The troupe wire protocol (docs/PROTOCOL.md) for Python producers.

Uses Debian's python3-zmq: run these scripts with /usr/bin/python3.
"""
import json
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

PROTOCOL = b"TRP1"


def add_connection_args(ap, default="tcp://127.0.0.1:5556"):
    ap.add_argument("--connect", default=default, help="the orchestrator's endpoint (default %(default)s)")
    ap.add_argument("--curve-secret", help="our secret key file (caf-node keygen)")
    ap.add_argument("--server-key", help="the orchestrator's public key file")


def read_key(path):
    with open(path) as f:
        return f.read().strip().encode()


def connect(args, kind=zmq.DEALER, before_connect=None):
    """A socket of `kind` connected to args.connect (with CURVE if given);
    before_connect(socket) runs first, e.g. to attach a monitor. A DEALER
    also gets a monitor of its own, from which submit() tells why no answer
    comes."""
    ctx = zmq.Context.instance()
    s = ctx.socket(kind)
    s.linger = 1000
    if args.curve_secret or args.server_key:
        if not (args.curve_secret and args.server_key):
            sys.exit("error: --curve-secret and --server-key go together")
        secret = read_key(args.curve_secret)
        s.curve_secretkey = secret
        s.curve_publickey = zmq.curve_public(secret)
        s.curve_serverkey = read_key(args.server_key)
    if before_connect:
        before_connect(s)
    if kind == zmq.DEALER:
        _monitors[s] = s.get_monitor_socket()
    s.connect(args.connect)
    return s


_monitors = {}  # DEALER socket -> its monitor socket
CONNECT_GRACE_S = 5  # how long submit() waits for a connection to come up


def connection_problem(events, curve):
    """(refused, why) from monitor events; why is None while all is well.
    A refused handshake is final: the same keys are refused again."""
    why = (False, None)
    for e in events:
        ev = e["event"]
        if ev == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            return True, "our key was refused (the orchestrator's allow-list does not hold our public key)"
        if ev in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
            # Without keys of our own the server must want them (the detail
            # often does not arrive); with keys, ours do not fit its.
            why = (True, "the handshake failed (is --server-key the orchestrator's public key, "
                         "and does it run with --curve-secret?)" if curve else
                         "the handshake failed (the orchestrator uses CURVE keys: "
                         "give --curve-secret and --server-key)")
        elif ev == zmq.EVENT_CONNECT_RETRIED and why[1] is None:
            why = (False, "nothing accepts connections there "
                          "(is the orchestrator running, and is this its address?)")
    return why


def first_answer(s, args, timeout_s):
    """The first answer on a connect()ed DEALER, or exit 1 saying why none
    came: no connection within CONNECT_GRACE_S, or a refused handshake."""
    mon = _monitors[s]
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    poller.register(mon, zmq.POLLIN)
    now = time.monotonic
    deadline, grace_end = now() + timeout_s, now() + CONNECT_GRACE_S
    refused_at, ready, events = None, False, []

    def give_up(why):
        if ready:
            sys.exit(f"error: no answer from {args.connect}")
        s.linger = 0  # nothing may leave after we said it did not
        sys.exit(f"error: no answer from {args.connect}: {why}; nothing was submitted")

    while True:
        until = deadline if ready else min(deadline, grace_end)
        if refused_at is not None:
            until = min(until, refused_at + 0.2)  # the reason may follow a bare failure
        socks = dict(poller.poll(max(0, int((until - now()) * 1000))))
        if s in socks:
            return recv(s, 0)
        while mon.poll(0):
            e = recv_monitor_message(mon)
            ready = ready or e["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED
            events.append(e)
        refused, why = connection_problem(events, bool(args.curve_secret))
        if refused and not ready:
            if refused_at is None:
                refused_at = now()
            reason_known = any(e["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH for e in events)
            if reason_known or now() >= refused_at + 0.2:
                give_up(why)
        if now() >= until and refused_at is None:
            give_up(why or "no connection came up within %d s" % CONNECT_GRACE_S)


def send(s, cmd, body):
    s.send_multipart([PROTOCOL, cmd.encode(), json.dumps(body).encode()])


def recv(s, timeout_s):
    """The next (command, body), or None after timeout_s."""
    if not s.poll(int(timeout_s * 1000)):
        return None
    frames = s.recv_multipart()
    if len(frames) != 3 or frames[0] != PROTOCOL:
        return ("ERROR", {"reason": "not a TRP1 message"})
    return frames[1].decode(), json.loads(frames[2])


def submit(s, args, body):
    """Sends SUBMIT and returns the ACCEPTED body; exits 1 without an answer,
    2 when the orchestrator refuses (printing every problem)."""
    send(s, "SUBMIT", body)
    cmd, body = first_answer(s, args, min(args.timeout_s, 30))
    if cmd == "ERROR":
        print("error: " + body.get("reason", ""), *("  - " + p for p in body.get("problems", [])),
              sep="\n", file=sys.stderr)
        sys.exit(2)
    return body


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"error: {path}: {e}")

"""The troupe wire protocol (docs/PROTOCOL.md) for Python producers.

Uses Debian's python3-zmq: run these scripts with /usr/bin/python3.
"""
import json
import sys

import zmq

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
    before_connect(socket) runs first, e.g. to attach a monitor."""
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
    s.connect(args.connect)
    return s


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
    answer = recv(s, min(args.timeout_s, 30))
    if answer is None:
        sys.exit(f"error: no answer from {args.connect}")
    cmd, body = answer
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

#!/usr/bin/python3
"""Follow a troupe orchestrator's events live, one JSON line per event.

  follow_events.py [--connect tcp://host:5557] [--topic task.] [--count N]
                   [--ready-file F]

Topics: task.queued, task.running, task.complete, task.failed, ...,
node.up, node.down. --count stops after N events (for scripts).
--ready-file F is written once the connection to the orchestrator is made:
events published after that reach this follower (a SUB socket misses what
goes out before it is connected).
"""
import argparse
import json
import sys

import zmq
from zmq.utils.monitor import recv_monitor_message

import troupe_wire as tw


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topic", default="", help="only topics starting with this")
    ap.add_argument("--count", type=int, default=0, help="stop after this many events")
    tw.add_connection_args(ap, default="tcp://127.0.0.1:5557")
    ap.add_argument("--ready-file", help="written once connected to the orchestrator")
    args = ap.parse_args()
    monitor = []

    def prepare(sock):
        sock.setsockopt(zmq.SUBSCRIBE, args.topic.encode())
        # Watched before connecting: no event can be missed.
        monitor.append(sock.get_monitor_socket())

    s = tw.connect(args, zmq.SUB, before_connect=prepare)
    mon = monitor[0]
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    poller.register(mon, zmq.POLLIN)
    seen, events, said = 0, [], None
    try:
        while args.count == 0 or seen < args.count:
            socks = dict(poller.poll())
            if mon in socks:
                while mon.poll(0):
                    e = recv_monitor_message(mon)
                    events = events[-20:] + [e]  # a socket that keeps retrying
                    if e["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                        # The subscription goes out right after the
                        # handshake, ahead of anything published later.
                        events, said = [], None
                        if args.ready_file:
                            open(args.ready_file, "w").close()
                _, why = tw.connection_problem(events, bool(args.curve_secret))
                if why and why != said:  # once per reason; the socket retries
                    print(f"warning: {args.connect}: {why}; still trying", file=sys.stderr, flush=True)
                    said = why
            if s in socks:
                topic, body = s.recv_multipart()
                event = json.loads(body)
                event["topic"] = topic.decode()
                print(json.dumps(event), flush=True)
                seen += 1
    except KeyboardInterrupt:
        pass
    s.close(linger=0)


if __name__ == "__main__":
    main()

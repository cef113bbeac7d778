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
        if args.ready_file:  # watched before connecting: the event cannot be missed
            monitor.append(sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED))

    s = tw.connect(args, zmq.SUB, before_connect=prepare)
    if monitor:
        # The subscription goes out right after the handshake, ahead of
        # anything the orchestrator publishes later.
        recv_monitor_message(monitor[0])
        s.disable_monitor()
        monitor[0].close(linger=0)
        open(args.ready_file, "w").close()
    seen = 0
    try:
        while args.count == 0 or seen < args.count:
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

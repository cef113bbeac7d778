#!/usr/bin/python3
"""Follow a troupe orchestrator's events live, one JSON line per event.

  follow_events.py [--connect tcp://host:5557] [--topic task.] [--count N]

Topics: task.queued, task.running, task.complete, task.failed, ...,
node.up, node.down. --count stops after N events (for scripts).
"""
import argparse
import json
import sys

import zmq

import troupe_wire as tw


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topic", default="", help="only topics starting with this")
    ap.add_argument("--count", type=int, default=0, help="stop after this many events")
    tw.add_connection_args(ap, default="tcp://127.0.0.1:5557")
    args = ap.parse_args()
    s = tw.connect(args, zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, args.topic.encode())
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

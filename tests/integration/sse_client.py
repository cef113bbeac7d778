#!/usr/bin/python3
"""A Server-Sent Events client for the tests: connects to --url (with
Last-Event-ID when given), writes --ready-file once the stream is open, and
prints one line per event, "<id> <event> <worker>/<task_id>" (or the
event's kind alone), until --until-count events arrived or an event of kind
--until-event did; exits 1 after --timeout seconds."""
import argparse
import json
import os
import socket
import sys
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("--url", required=True)
p.add_argument("--last-event-id")
p.add_argument("--until-count", type=int, default=0)
p.add_argument("--until-event")
p.add_argument("--ready-file")
p.add_argument("--token")
p.add_argument("--timeout", type=float, default=30)
a = p.parse_args()

req = urllib.request.Request(a.url, headers={"Accept": "text/event-stream"})
if a.last_event_id:
    req.add_header("Last-Event-ID", a.last_event_id)
if a.token:
    req.add_header("Authorization", "Bearer " + a.token)
try:
    resp = urllib.request.urlopen(req, timeout=a.timeout)
except (socket.timeout, OSError) as e:
    sys.exit("sse_client: " + str(e))
if a.ready_file:
    with open(a.ready_file + ".tmp", "w") as f:
        f.write("open\n")
    os.rename(a.ready_file + ".tmp", a.ready_file)
seen = 0
fields = {}
try:
    for raw in resp:
        line = raw.decode().rstrip("\n")
        if line:
            if not line.startswith(":") and ":" in line:
                k, v = line.split(":", 1)
                fields[k] = v[1:] if v.startswith(" ") else v
            continue
        if "data" not in fields:
            fields = {}
            continue
        d = json.loads(fields["data"])
        kind = d.get("event", fields.get("event", ""))
        who = (" %s/%s" % (d["worker"], d["task_id"])) if d.get("task_id") else ""
        print("%s %s%s" % (fields.get("id", "-"), kind, who), flush=True)
        fields = {}
        seen += 1
        if (a.until_count and seen >= a.until_count) or (a.until_event and kind == a.until_event):
            sys.exit(0)
except socket.timeout:
    pass
sys.exit("sse_client: timed out after %d event(s)" % seen)

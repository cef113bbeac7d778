#!/usr/bin/python3
"""A small OTLP/HTTP collector for the tests: accepts POST /v1/traces
(JSON), answers 200 {} and saves each body as <out>/<n>.json (with the
request's headers in <n>.headers.json). Writes its port to --port-file."""
import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--port-file", required=True)
p.add_argument("--out", required=True)
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
count = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        count += 1
        with open(os.path.join(a.out, "%d.headers.json" % count), "w") as f:
            json.dump(dict(self.headers), f)
        with open(os.path.join(a.out, ".%d.tmp" % count), "wb") as f:
            f.write(body)
        os.rename(os.path.join(a.out, ".%d.tmp" % count), os.path.join(a.out, "%d.json" % count))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(a.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(a.port_file + ".tmp", a.port_file)
srv.serve_forever()

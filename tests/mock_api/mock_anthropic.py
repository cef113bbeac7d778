#!/usr/bin/python3
"""A local mock of Anthropic's Messages API, for running the real Claude Code
CLI in tests (ANTHROPIC_BASE_URL=http://127.0.0.1:<port>).

  mock_anthropic.py --port-file F [--log F] [--mode ok] [--rpm N] [--itpm N] [--otpm N]
                    [--latency-ms N]

POST /v1/messages answers like the real API, streamed (SSE) when asked, with
realistic usage. Rate limits are continuously refilled token buckets per
minute (requests; input = input + cache_creation tokens; output); a request
that would overdraw one is answered 429 with retry-after and Anthropic's error
body. --mode (or POST /_control {"mode": ...}) switches to: 429 (with
retry-after of "retry_after_s"), 529, 500, 401, spend-limit (429 without
retry-after), slow (--latency-ms before answering), hang (never answers);
with {"times": N} the mode answers N requests, then it reverts to ok. Every request is logged as one JSON line with its time.
The answer ends with the JSON report block troupe asks agents for.
"""
import argparse
import json
import os
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
# mode: see above; times: when > 0, the mode answers that many requests and
# then reverts to ok; retry_after_s: the retry-after of mode 429.
STATE = {"mode": "ok", "latency_ms": 0, "times": 0, "retry_after_s": 2}


class Bucket:
    def __init__(self, per_min):
        self.per_min = float(per_min)
        self.level = self.per_min
        self.t = time.monotonic()

    def refill(self):
        now = time.monotonic()
        if self.per_min > 0:
            self.level = min(self.per_min, self.level + (now - self.t) * self.per_min / 60.0)
        self.t = now

    def can(self, n):
        return self.per_min <= 0 or self.level >= min(n, self.per_min)

    def take(self, n):
        if self.per_min > 0:
            self.level -= n

    def wait_s(self, n):
        if self.can(n):
            return 0.0
        return (min(n, self.per_min) - self.level) * 60.0 / self.per_min


BUCKETS = {}


def estimate_input(body):
    text = json.dumps(body.get("system", "")) + json.dumps(body.get("messages", []))
    return max(1, len(text) // 4)


def last_user_text(body):
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            # The CLI puts reminders first; the prompt is the last text block.
            texts = [b.get("text", "") for b in c if isinstance(b, dict) and b.get("type") == "text"]
            return texts[-1] if texts else ""
    return ""


def orchestrator_answer(text):
    """troupe's planner and synthesiser get answers of their kind: a plan
    over the workers the prompt lists (one task each, the last building on
    the others), or a short answer naming every task result it was given."""
    if text.startswith("# Plan request"):
        workers = re.findall(r"^- `([^`]+)`:", text, re.M)
        tasks = [{"task_id": f"part-{i + 1}", "worker": w, "priority": "medium",
                  "description": f"Part {i + 1} of the request, for {w}: one short paragraph.",
                  "dependencies": [] if i < len(workers) - 1 else [f"part-{k + 1}" for k in range(i)]}
                 for i, w in enumerate(workers)]
        return "Here is the plan.\n\n```json\n" + json.dumps({"tasks": tasks}) + "\n```\n"
    if text.startswith("# Synthesis request"):
        done = re.findall(r"^### (\S+) \((\S+)\): (\w+)", text, re.M)
        return "# Mock synthesis\n\n" + "\n".join(f"- {t} ({w}): {s}" for t, w, s in done) + "\n"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _log(self, entry):
        if ARGS.log:
            with LOCK, open(ARGS.log, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def _json(self, code, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code, etype, message, headers=None):
        self._json(code, {"type": "error", "error": {"type": etype, "message": message}}, headers)

    def do_GET(self):
        self._log({"t": time.time(), "method": "GET", "path": self.path})
        self._error(404, "not_found_error", "not found")

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("content-length", 0))
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if self.path.startswith("/_control"):
            with LOCK:
                STATE.update(body)
            return self._json(200, STATE)
        entry = {"t": time.time(), "method": "POST", "path": self.path,
                 "api_key": self.headers.get("x-api-key", ""),
                 "model": body.get("model"), "stream": bool(body.get("stream")),
                 "system": body.get("system"), "user": last_user_text(body)[:20000],
                 "tools": len(body.get("tools") or [])}
        if not self.path.split("?")[0].endswith("/v1/messages"):
            entry["status"] = 404
            self._log(entry)
            return self._error(404, "not_found_error", f"{self.path} is not mocked")
        with LOCK:
            mode = STATE["mode"]
            latency = STATE["latency_ms"]
            retry_after = STATE["retry_after_s"]
            if STATE["times"] > 0:
                STATE["times"] -= 1
                if STATE["times"] == 0:
                    STATE["mode"] = "ok"
        if mode == "hang":
            entry["status"] = "hang"
            self._log(entry)
            time.sleep(3600)
            return
        if mode == "slow" and latency:
            time.sleep(latency / 1000.0)
        status_for = {"529": (529, "overloaded_error", "Overloaded"),
                      "500": (500, "api_error", "Internal server error"),
                      "401": (401, "authentication_error", "invalid x-api-key"),
                      "spend-limit": (429, "rate_limit_error",
                                      "enforced_spend_limit_reached: You have reached your specified API usage limits.")}
        if mode in status_for:
            code, etype, msg = status_for[mode]
            entry["status"] = code
            self._log(entry)
            return self._error(code, etype, msg)
        if mode == "429":
            entry["status"] = 429
            self._log(entry)
            return self._error(429, "rate_limit_error",
                               "This request would exceed the rate limit for your organization.",
                               {"retry-after": str(retry_after)})
        inp = estimate_input(body)
        answer = orchestrator_answer(last_user_text(body)) or (
            "I have done the task.\n\n```json\n" + json.dumps({
                "summary": "Mock answer to: " + last_user_text(body).strip().splitlines()[0][:120]
                if last_user_text(body).strip() else "Mock answer",
                "findings": ["mock finding"], "artifacts": []}) + "\n```\n")
        out = max(1, len(answer) // 4)
        max_tokens = int(body.get("max_tokens", 4096))
        out = min(out, max_tokens)
        with LOCK:
            for b in BUCKETS.values():
                b.refill()
            ok = BUCKETS["rpm"].can(1) and BUCKETS["itpm"].can(inp) and BUCKETS["otpm"].can(out)
            if ok:
                BUCKETS["rpm"].take(1)
                BUCKETS["itpm"].take(inp)
                BUCKETS["otpm"].take(out)
            else:
                wait = max(BUCKETS["rpm"].wait_s(1), BUCKETS["itpm"].wait_s(inp), BUCKETS["otpm"].wait_s(out))
        if not ok:
            entry["status"] = 429
            entry["input_tokens"] = inp
            self._log(entry)
            return self._error(429, "rate_limit_error",
                               "This request would exceed the rate limit for your organization.",
                               {"retry-after": str(max(1, int(wait + 0.999)))})
        entry.update({"status": 200, "input_tokens": inp, "output_tokens": out})
        self._log(entry)
        msg_id = "msg_" + uuid.uuid4().hex[:24]
        model = body.get("model", "claude-sonnet-4-5")
        usage = {"input_tokens": inp, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                 "output_tokens": out}
        if not body.get("stream"):
            return self._json(200, {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                                    "content": [{"type": "text", "text": answer}],
                                    "stop_reason": "end_turn", "stop_sequence": None, "usage": usage})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
        self.send_header("connection", "close")
        self.end_headers()

        def ev(name, data):
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        ev("message_start", {"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": inp, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 1}}})
        ev("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}})
        for i in range(0, len(answer), 64):
            ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": answer[i:i + 64]}})
        ev("content_block_stop", {"type": "content_block_stop", "index": 0})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                             "usage": {"output_tokens": out}})
        ev("message_stop", {"type": "message_stop"})
        self.close_connection = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", default="")
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--rpm", type=float, default=0)
    ap.add_argument("--itpm", type=float, default=0)
    ap.add_argument("--otpm", type=float, default=0)
    ARGS = ap.parse_args()
    STATE["mode"] = ARGS.mode
    STATE["latency_ms"] = ARGS.latency_ms
    BUCKETS.update(rpm=Bucket(ARGS.rpm), itpm=Bucket(ARGS.itpm), otpm=Bucket(ARGS.otpm))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""A local mock of Anthropic's Messages API, for running the real Claude Code
CLI in tests (ANTHROPIC_BASE_URL=http://127.0.0.1:<port>).

  mock_anthropic.py --port-file F [--log F] [--mode ok] [--rpm N] [--itpm N] [--otpm N]
                    [--latency-ms N] [--input-tokens N] [--output-tokens N]
                    [--tls-cert PEM --tls-key PEM]

POST /v1/messages answers like the real API, streamed (SSE) when asked, with
realistic usage. Rate limits are continuously refilled token buckets per
minute (requests; input = input + cache_creation tokens; output); a request
that would overdraw one is answered 429 with retry-after and Anthropic's error
body, and every answer carries anthropic-ratelimit-* headers. The prompt
cache is modelled as the API's (see prompt_tokens): a cold first request
creates its prefix, which counts as input; a warm one reads it, which does
not (--cache-ttl-s, default 300). --mode (or POST /_control {"mode": ...}) switches to: 429 (with
retry-after of "retry_after_s"), 529, 500, 401, spend-limit (429 without
retry-after), spend-limit-400 (the 400 a limit the user set gets; with "regain_at" it names that moment and ends there), slow (--latency-ms before answering), hang (never answers),
window (a subscription's 5-hour window rejects the account: every request is
answered 429 with anthropic-ratelimit-unified-status rejected and the reset,
"window_s" after the first, in unix seconds as the API sends it; from the
reset on it answers again, with the unified headers of an allowed window);
with {"times": N} the mode answers N requests, then it reverts to ok. Every request is logged as one JSON line with its time.
The answer ends with the JSON report block troupe asks agents for.

Fixed usage, so that each call costs what a test sets: --input-tokens N (or
POST /_control {"input_tokens": N}) makes every answer report N uncached
input tokens and no cache creation or reads, whatever the prompt's size;
--output-tokens N (or {"output_tokens": N}) makes it report N output tokens
(at most the request's max_tokens) whatever the answer's length. 0, the
default, is the modelled usage above. The log and the rate limits count the
fixed figures, as the API would have metered them.

Tool use is scripted by the prompt: a line `mock-script: [STEP, ...]` in the
conversation's first user message makes the mock answer its Nth request in
that conversation (N = assistant turns so far) with step N. A step
{"tool": NAME, "input": {...}} is answered as a tool_use block ("{cwd}" in a
string becomes the CLI's primary working directory, "{file:NAME}" the path
the prompt gives for a dependency's file NAME, on a "Files it wrote:" line); {"report": {...}} ends
the conversation with that report block; past the last step the default
report follows. The tool_result blocks the CLI sends back are logged
("tool_results": tool name, is_error, content), as are the tools and agent
types offered. A sub-agent's conversation starts with its own prompt, so it
gets the default answer.
"""
import argparse
import hashlib
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
# window_s: how long mode window rejects the account; window_reset: when
# it does no more (unix s), set by the first request it rejects.
# regain_at: when a spend-limit-400 ends (unix s, on a minute, as the
# API's message says it): the message names it, and from then on the mock
# answers again. 0: 2027-01-01, never reached.
# input_tokens, output_tokens: fixed usage of every answer (0: modelled).
STATE = {"mode": "ok", "latency_ms": 0, "times": 0, "retry_after_s": 2,
         "window_s": 5, "window_reset": 0, "regain_at": 0,
         "input_tokens": 0, "output_tokens": 0}


def unified_headers(status, reset, utilization):
    """A subscription's windows, as anthropic-ratelimit-unified-* say them."""
    return {"anthropic-ratelimit-unified-status": status,
            "anthropic-ratelimit-unified-reset": str(reset),
            "anthropic-ratelimit-unified-representative-claim": "five_hour",
            "anthropic-ratelimit-unified-5h-status": status,
            "anthropic-ratelimit-unified-5h-reset": str(reset),
            "anthropic-ratelimit-unified-5h-utilization": str(utilization)}


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


# Block boundaries up to a breakpoint at which the API looks for a cached
# prefix.
LOOKBACK = 20

# Prompt-cache prefixes (a hash of everything through a breakpoint) and
# when each expires: the API keeps one for 5 minutes after its last use.
CACHE = {}


def prompt_tokens(body):
    """(input, cache_creation, cache_read) tokens as the API counts them, at
    four bytes a token. The prompt is its blocks in order: tools, system,
    then each message's content. A block with cache_control is a breakpoint:
    the prefix through it is cached. The longest cached prefix is read, the
    rest up to the last breakpoint is created (and cached), and what comes
    after the last breakpoint is plain input. A cold first request of the
    CLI so creates its tool schemas and system prompt; a warm one reads
    them."""
    blocks = [("tool", t) for t in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, list):
        # The CLI's attribution line (its version and a fingerprint of the
        # first message, which differs between tasks) is read by the API,
        # not prompted: no part of the prefix, or no two tasks would share
        # a cache.
        blocks += [("system", b) for b in system
                   if not (isinstance(b, dict) and str(b.get("text", "")).startswith("x-anthropic-billing-header:"))]
    elif system:
        blocks.append(("system", {"type": "text", "text": system}))
    for m in body.get("messages") or []:
        c = m.get("content")
        for b in c if isinstance(c, list) else [{"type": "text", "text": c or ""}]:
            blocks.append((m.get("role", ""), b))
    h = hashlib.sha256(str(body.get("model")).encode())
    size, marks, bounds, looked = 0, [], [], []
    for role, b in blocks:
        # The breakpoint itself is no part of the prefix: it moves on as a
        # conversation grows, and the prefix stays cached.
        plain = {k: v for k, v in b.items() if k != "cache_control"} if isinstance(b, dict) else b
        text = role + json.dumps(plain, sort_keys=True)
        h.update(text.encode())
        size += len(text)
        bounds.append((h.hexdigest(), size))
        if isinstance(b, dict) and b.get("cache_control"):
            marks.append((h.hexdigest(), size))
            # The API also looks for a cached prefix at the 20 block
            # boundaries up to a breakpoint: the last turn's breakpoint is
            # found when the CLI has moved it on.
            looked += bounds[-LOOKBACK:]
    now = time.monotonic()
    with LOCK:
        read = max([n for k, n in looked if CACHE.get(k, 0) > now], default=0)
    last = marks[-1][1] if marks else 0
    return max(1, (size - last) // 4), (last - read) // 4, read // 4, [k for k, _ in marks]


def cache_store(marks):
    """An answered request caches (or refreshes) its prefixes; a refused one
    does not. Called under LOCK."""
    until = time.monotonic() + ARGS.cache_ttl_s
    for k in marks:
        CACHE[k] = until


def ratelimit_headers():
    """anthropic-ratelimit-* for each limited bucket: its limit, what remains,
    and when it is full again (RFC 3339)."""
    out = {}
    for name, key in (("requests", "rpm"), ("input-tokens", "itpm"), ("output-tokens", "otpm")):
        b = BUCKETS[key]
        if b.per_min <= 0:
            continue
        full_in = max(0.0, (b.per_min - b.level) * 60.0 / b.per_min)
        reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + full_in))
        out[f"anthropic-ratelimit-{name}-limit"] = str(int(b.per_min))
        out[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, int(b.level)))
        out[f"anthropic-ratelimit-{name}-reset"] = reset
    if STATE["window_reset"]:  # a subscription since a window rejected it
        out.update(unified_headers("allowed", STATE["window_reset"] + 5 * 3600, 0.01))
    return out


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


def user_texts(message):
    c = message.get("content")
    if isinstance(c, str):
        return [c]
    return [b.get("text", "") for b in c or [] if isinstance(b, dict) and b.get("type") == "text"]


SCRIPT_RE = re.compile(r"^mock-script: (.+)$", re.M)
CWD_RE = re.compile(r"Primary working directory: (\S+)")
FILES_RE = re.compile(r"^Files it wrote:(.*)$", re.M)
FILE_REF_RE = re.compile(r"\{file:([^}]+)\}")


def script_of(body):
    """The steps the conversation's first message asks for, and the CLI's
    working directory; ([], "") for a conversation without a script."""
    msgs = body.get("messages") or []
    if not msgs:
        return [], ""
    text = "\n".join(user_texts(msgs[0]))
    m = SCRIPT_RE.search(text)
    cwd = CWD_RE.search(text)
    files = [p for line in FILES_RE.findall(text) for p in line.split()]
    return (json.loads(m.group(1)) if m else []), {"cwd": cwd.group(1) if cwd else "", "files": files}


def with_cwd(x, where):
    if isinstance(x, str):
        def file_ref(m):
            named = [p for p in where["files"] if p == m.group(1) or p.endswith("/" + m.group(1))]
            return named[0] if named else "(no such file in the prompt)"
        return FILE_REF_RE.sub(file_ref, x.replace("{cwd}", where["cwd"]))
    if isinstance(x, list):
        return [with_cwd(v, where) for v in x]
    if isinstance(x, dict):
        return {k: with_cwd(v, where) for k, v in x.items()}
    return x


def tool_results(body):
    """The tool_result blocks of the last user message, named by the tool
    each answers."""
    msgs = body.get("messages") or []
    names = {}
    for m in msgs:
        if m.get("role") == "assistant" and isinstance(m.get("content"), list):
            for b in m["content"]:
                if isinstance(b, dict) and b.get("type") == "tool_use":
                    names[b.get("id")] = b.get("name")
    out = []
    if msgs and isinstance(msgs[-1].get("content"), list):
        for b in msgs[-1]["content"]:
            if isinstance(b, dict) and b.get("type") == "tool_result":
                c = b.get("content")
                if isinstance(c, list):
                    c = "".join(x.get("text", "") for x in c if isinstance(x, dict))
                out.append({"tool": names.get(b.get("tool_use_id"), "?"),
                            "is_error": bool(b.get("is_error")), "content": str(c)[:2000]})
    return out


def agent_types(body):
    """Agent types the CLI lists for its Agent tool (a system reminder)."""
    for m in (body.get("messages") or [])[:1]:
        for t in user_texts(m):
            if "Available agent types" in t:
                return re.findall(r"^- ([^:\s]+):", t, re.M)
    return []


def next_step(body):
    """(tool_use block or None, report dict or None) for this request."""
    steps, where = script_of(body)
    turn = sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")
    if turn >= len(steps):
        return None, None
    step = with_cwd(steps[turn], where)
    if "tool" in step:
        return {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20],
                "name": step["tool"], "input": step.get("input", {})}, None
    return None, step.get("report")


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
                 "tools": len(body.get("tools") or []),
                 "tool_names": [t.get("name") for t in body.get("tools") or []],
                 "agent_types": agent_types(body), "tool_results": tool_results(body)}
        if not self.path.split("?")[0].endswith("/v1/messages"):
            entry["status"] = 404
            self._log(entry)
            return self._error(404, "not_found_error", f"{self.path} is not mocked")
        with LOCK:
            if STATE["mode"] == "window":
                now = time.time()
                if not STATE["window_reset"]:
                    STATE["window_reset"] = int(now + STATE["window_s"] + 0.999)
                if now >= STATE["window_reset"]:
                    STATE["mode"] = "ok"
            if STATE["mode"] == "spend-limit-400" and STATE["regain_at"] and time.time() >= STATE["regain_at"]:
                STATE["mode"] = "ok"
            mode = STATE["mode"]
            window_reset = STATE["window_reset"]
            regain = time.strftime("%Y-%m-%d at %H:%M UTC", time.gmtime(STATE["regain_at"])) \
                if STATE["regain_at"] else "2027-01-01 at 00:00 UTC"
            latency = STATE["latency_ms"]
            fixed_in, fixed_out = int(STATE["input_tokens"]), int(STATE["output_tokens"])
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
                                      "enforced_spend_limit_reached: You have reached your specified API usage limits."),
                      # A limit the user set, as the API answers it now.
                      "spend-limit-400": (400, "invalid_request_error",
                                          "You have reached your specified API usage limits. "
                                          f"You will regain access on {regain}.")}
        if mode in status_for:
            code, etype, msg = status_for[mode]
            entry["status"] = code
            self._log(entry)
            return self._error(code, etype, msg)
        if mode == "window":
            entry["status"] = 429
            self._log(entry)
            return self._error(429, "rate_limit_error",
                               "Claude AI usage limit reached",
                               unified_headers("rejected", window_reset, 1.0))
        if mode == "429":
            entry["status"] = 429
            self._log(entry)
            return self._error(429, "rate_limit_error",
                               "This request would exceed the rate limit for your organization.",
                               {"retry-after": str(retry_after)})
        plain_in, created, cached, marks = prompt_tokens(body)
        if fixed_in > 0:  # a test sets what each call costs: no cache
            plain_in, created, cached, marks = fixed_in, 0, 0, []
        inp = plain_in + created  # what the input-tokens meter counts
        tool_use, report = next_step(body)
        first = user_texts((body.get("messages") or [{}])[0])
        asked = first[-1].strip() if first else ""
        if tool_use:
            answer = "Using " + tool_use["name"] + "."
        else:
            answer = orchestrator_answer(last_user_text(body)) or (
                "I have done the task.\n\n```json\n" + json.dumps(report or {
                    "summary": "Mock answer to: " + asked.splitlines()[0][:120] if asked else "Mock answer",
                    "findings": ["mock finding"], "artifacts": []}) + "\n```\n")
        if tool_use:
            entry["tool_use"] = {"name": tool_use["name"], "input": tool_use["input"]}
        out = fixed_out if fixed_out > 0 else max(1, len(answer + json.dumps(tool_use or "")) // 4)
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
                cache_store(marks)
            else:
                wait = max(BUCKETS["rpm"].wait_s(1), BUCKETS["itpm"].wait_s(inp), BUCKETS["otpm"].wait_s(out))
            limit_headers = ratelimit_headers()
        if not ok:
            entry["status"] = 429
            entry["input_tokens"] = inp
            self._log(entry)
            return self._error(429, "rate_limit_error",
                               "This request would exceed the rate limit for your organization.",
                               dict(limit_headers, **{"retry-after": str(max(1, int(wait + 0.999)))}))
        entry.update({"status": 200, "input_tokens": inp, "output_tokens": out,
                      "cache_creation_input_tokens": created, "cache_read_input_tokens": cached})
        self._log(entry)
        msg_id = "msg_" + uuid.uuid4().hex[:24]
        model = body.get("model", "claude-sonnet-4-5")
        usage = {"input_tokens": plain_in, "cache_creation_input_tokens": created,
                 "cache_read_input_tokens": cached, "output_tokens": out}
        stop = "tool_use" if tool_use else "end_turn"
        if not body.get("stream"):
            return self._json(200, {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                                    "content": [{"type": "text", "text": answer}] + ([tool_use] if tool_use else []),
                                    "stop_reason": stop, "stop_sequence": None, "usage": usage},
                              limit_headers)
        self.send_response(200)
        for k, v in limit_headers.items():
            self.send_header(k, v)
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
            "usage": dict(usage, output_tokens=1)}})
        ev("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}})
        for i in range(0, len(answer), 64):
            ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": answer[i:i + 64]}})
        ev("content_block_stop", {"type": "content_block_stop", "index": 0})
        if tool_use:
            ev("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
                "type": "tool_use", "id": tool_use["id"], "name": tool_use["name"], "input": {}}})
            args = json.dumps(tool_use["input"])
            for i in range(0, len(args), 64):
                ev("content_block_delta", {"type": "content_block_delta", "index": 1,
                                           "delta": {"type": "input_json_delta", "partial_json": args[i:i + 64]}})
            ev("content_block_stop", {"type": "content_block_stop", "index": 1})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
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
    ap.add_argument("--cache-ttl-s", type=float, default=300)
    # Fixed usage of every answer (0: modelled from the prompt and answer).
    ap.add_argument("--input-tokens", type=int, default=0)
    ap.add_argument("--output-tokens", type=int, default=0)
    # HTTPS, as the API is served: a certificate and its key (PEM).
    ap.add_argument("--tls-cert", default="")
    ap.add_argument("--tls-key", default="")
    ARGS = ap.parse_args()
    STATE["mode"] = ARGS.mode
    STATE["latency_ms"] = ARGS.latency_ms
    STATE["input_tokens"] = ARGS.input_tokens
    STATE["output_tokens"] = ARGS.output_tokens
    BUCKETS.update(rpm=Bucket(ARGS.rpm), itpm=Bucket(ARGS.itpm), otpm=Bucket(ARGS.otpm))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if ARGS.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

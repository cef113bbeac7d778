#!/usr/bin/python3
"""The mock API's log against a binding input-tokens-per-minute limit.

  limit_verdict.py REQUESTS.jsonl ITPM

Prints: requests answered 200, requests answered 429, input tokens of the
200s, their span in seconds, the share of what the limit allowed over that
span that they used, and how many were cold (no prompt-cache read).
"""
import json
import sys

reqs = [json.loads(l) for l in open(sys.argv[1]) if '"POST"' in l]
itpm = float(sys.argv[2])
ok = [r for r in reqs if r.get("status") == 200]
n429 = sum(1 for r in reqs if r.get("status") == 429)
used = sum(r["input_tokens"] for r in ok)
span = max(r["t"] for r in ok) - min(r["t"] for r in ok)
# A bucket that starts full allows at most its capacity plus the refill.
allowed = itpm + itpm / 60.0 * span
# Cold: no prefix read from the cache (a worker's first runs).
cold = sum(1 for r in ok if r.get("cache_read_input_tokens", 0) == 0)
print(f"{len(ok)} {n429} {used} {span:.1f} {used / allowed:.3f} {cold}")

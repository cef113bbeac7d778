#!/usr/bin/python3
"""Waits, with inotify (no polling), until result files exist.

  await_results.py --timeout S DIR COUNT        COUNT *.json files in DIR
  await_results.py --timeout S FILE...          every FILE exists

Exits 0 when satisfied, 1 on timeout (printing what is missing).
"""
import ctypes
import os
import select
import struct
import sys
import time

IN_MOVED_TO = 0x80
IN_CLOSE_WRITE = 0x8
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def count(d):
    return sum(1 for n in os.listdir(d) if n.endswith(".json") and not n.startswith("."))


def main():
    args = sys.argv[1:]
    timeout = 60.0
    if args[:1] == ["--timeout"]:
        timeout = float(args[1])
        args = args[2:]
    if len(args) == 2 and args[1].isdigit():
        # DIR COUNT, even if DIR does not exist yet (it is created below:
        # a node that is still starting must not turn this into FILE mode).
        d, n = args[0], int(args[1])
        dirs = [d]
        done = lambda: count(d) >= n
        missing = lambda: f"{count(d)} of {n} files in {d}"
    else:
        files = args
        dirs = sorted({os.path.dirname(os.path.abspath(f)) for f in files})
        done = lambda: all(os.path.exists(f) for f in files)
        missing = lambda: "missing: " + " ".join(f for f in files if not os.path.exists(f))
    fd = libc.inotify_init1(os.O_NONBLOCK)
    for d in dirs:
        os.makedirs(d, exist_ok=True)
        libc.inotify_add_watch(fd, d.encode(), IN_MOVED_TO | IN_CLOSE_WRITE)
    deadline = time.monotonic() + timeout
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not done():  # watches are in place before this check: no lost wake-up
        left = deadline - time.monotonic()
        if left <= 0:
            print("timeout: " + missing(), file=sys.stderr)
            return 1
        if poller.poll(left * 1000):
            try:
                os.read(fd, 1 << 16)
            except BlockingIOError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Tasks/s and drop -> result round trip through the shared Redis queue, with
one and two orchestrators (`serve --queue`, simulator at 0 ms), beside the
folder queue (`serve` alone), and the floor this machine allows: what
redis-benchmark does in the same run, divided by the Redis commands one task
takes (counted from INFO commandstats over the runs).

  bench/redis_queue.py <caf-node> <source dir> [--tasks N] [--trips N]

Roots on /dev/shm; redis-server without persistence (the queue's own cost,
not the disk's).
"""
import json, os, re, shutil, socket, subprocess, sys, tempfile, time

caf_node, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
args = sys.argv[3:]
N = int(args[args.index("--tasks") + 1]) if "--tasks" in args else 5000
TRIPS = int(args[args.index("--trips") + 1]) if "--trips" in args else 200
WORKERS = ("marie", "anga", "fabien")
work = tempfile.mkdtemp(prefix="troupe-bench-rq.", dir="/dev/shm")
procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_redis():
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", work,
                          "--save", "", "--appendonly", "no"], stdout=subprocess.PIPE, text=True)
    for line in p.stdout:
        if "Ready to accept connections" in line:
            break
    procs.append(p)
    return port


def rcli(port, *cmd):
    return subprocess.run(["redis-cli", "-p", str(port), *cmd], capture_output=True, text=True).stdout


def commands_total(port):
    total = 0
    for m in re.finditer(r"^cmdstat_(\w+):calls=(\d+)", rcli(port, "INFO", "commandstats"), re.M):
        if m.group(1) not in ("info", "flushall", "config"):
            total += int(m.group(2))
    return total


def start_serve(root, port):
    os.makedirs(root, exist_ok=True)
    ready = root + "/ready"
    cmd = [caf_node, "serve", "--root", root, "--config", src + "/config/troupe.json", "--executor", "sim",
           "--sim-latency-ms", "0", "--log-level", "warn", "--ready-file", ready]
    if port:
        cmd += ["--queue", f"redis://127.0.0.1:{port}"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(root + "/serve.log", "a"))
    procs.append(p)
    while not os.path.exists(ready):
        if p.poll() is not None:
            sys.exit(f"serve exited: see {root}/serve.log")
        time.sleep(0.005)
    return p


def stop(p):
    p.terminate()
    p.wait()


def write_task(root, i, prefix):
    w = WORKERS[i % 3]
    path = f"{root}/tasks/{w}/{prefix}{i:06d}.json"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump({"task_id": f"{prefix}{i:06d}", "worker": w, "description": "bench"}, f)
    os.rename(path + ".tmp", path)
    return f"{root}/results/{w}/{prefix}{i:06d}.json"


def count_results(root):
    n = 0
    for w in WORKERS:
        try:
            n += sum(1 for e in os.scandir(f"{root}/results/{w}") if e.name.endswith(".json"))
        except FileNotFoundError:
            pass
    return n


def throughput(label, orchestrators, port):
    roots = [f"{work}/{label}-{k}" for k in range(orchestrators)]
    for i in range(N):  # all there before the first start: its scan takes them
        write_task(roots[0], i, "t")
    if port:
        rcli(port, "FLUSHALL")
    c0 = commands_total(port) if port else 0
    nodes = [start_serve(r, port) for r in roots[1:]]  # the others first: ready to share
    t0 = time.perf_counter()
    nodes.append(start_serve(roots[0], port))
    while count_results(roots[0]) < N:
        time.sleep(0.002)
    dt = time.perf_counter() - t0
    per_task = (commands_total(port) - c0) / N if port else 0
    ran = [count_results(r) for r in roots]
    for p in nodes:
        stop(p)
    return N / dt, per_task, ran


def round_trip(label, orchestrators, port):
    roots = [f"{work}/{label}-rt-{k}" for k in range(orchestrators)]
    if port:
        rcli(port, "FLUSHALL")
    nodes = [start_serve(r, port) for r in roots]
    lat = []
    for i in range(TRIPS):
        t0 = time.perf_counter()
        res = write_task(roots[0], i, "r")
        while not os.path.exists(res):
            time.sleep(0.0001)
        lat.append((time.perf_counter() - t0) * 1000)
    for p in nodes:
        stop(p)
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1]


def redis_benchmark(port):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-q", "-n", "100000", "-c", "2", "-P", "1",
                          "-t", "set,xadd,hset"], capture_output=True, text=True).stdout
    rps = {}
    for line in out.replace("\r", "\n").splitlines():
        m = re.match(r"(\w+): ([\d.]+) requests per second", line.strip())
        if m:
            rps[m.group(1)] = float(m.group(2))
    return rps


try:
    port = start_redis()
    rows = []
    f_tps, _, _ = throughput("folder", 1, None)
    f_p50, f_p99 = round_trip("folder", 1, None)
    r1_tps, r1_cmds, _ = throughput("redis1", 1, port)
    r1_p50, r1_p99 = round_trip("redis1", 1, port)
    r2_tps, r2_cmds, r2_ran = throughput("redis2", 2, port)
    r2_p50, r2_p99 = round_trip("redis2", 2, port)
    rb = redis_benchmark(port)
    simple = min(rb.values()) if rb else 0
    floor = simple / max(r1_cmds, 1)
    print(f"tasks: {N}, round trips: {TRIPS}, workers {','.join(WORKERS)} on the simulator at 0 ms, roots on /dev/shm")
    print(f"folder queue (serve):          {f_tps:9.0f} tasks/s   round trip p50 {f_p50:.2f} ms, p99 {f_p99:.2f} ms")
    print(f"Redis, 1 orchestrator:         {r1_tps:9.0f} tasks/s   round trip p50 {r1_p50:.2f} ms, p99 {r1_p99:.2f} ms"
          f"   ({r1_cmds:.1f} Redis commands a task)")
    print(f"Redis, 2 orchestrators:        {r2_tps:9.0f} tasks/s   round trip p50 {r2_p50:.2f} ms, p99 {r2_p99:.2f} ms"
          f"   ({r2_cmds:.1f} commands a task; ran {r2_ran[0]} / {r2_ran[1]} of them)")
    print("redis-benchmark, 2 clients, no pipelining: "
          + ", ".join(f"{k} {v:.0f}/s" for k, v in rb.items()))
    print(f"floor: the slowest of those / {r1_cmds:.1f} commands = {floor:.0f} tasks/s;"
          f" 1 orchestrator at {100 * r1_tps / floor:.0f} % of it, 2 at {100 * r2_tps / floor:.0f} %"
          f" (target >= 50 %); round trip p50 {r1_p50 / f_p50:.2f}x the folder queue's (target <= 2x)")
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(work, ignore_errors=True)

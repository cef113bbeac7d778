#!/usr/bin/env bash
# docker-compose.yml as Debian's docker-compose reads it (there is no engine
# here): valid, four caf-node services, and the agreed volume layout.
source "$(dirname "$0")/lib.sh"
command -v docker-compose >/dev/null || { fail "docker-compose is not installed (make deps)"; finish; }
cd "$SRC"
check "docker-compose config validates the file" docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml config >"$WORK/resolved.yml"
"$PY" - "$WORK/resolved.yml" <<'PYEOF' >"$WORK/checks.txt"
import json, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
ok = lambda cond, m: print(("ok " if cond else "FAIL ") + m)
ok(sorted(s) == ["anga", "fabien", "marie", "orchestrator"], "services: orchestrator, marie, anga, fabien")
ok(all(x["image"] == "troupe:latest" and x["build"]["dockerfile"].endswith("docker/Dockerfile") for x in s.values()),
   "one image for every role, built from docker/Dockerfile")
ok(s["orchestrator"]["command"][0] == "orchestrator", "the orchestrator runs caf-node orchestrator")
def vols(name):
    """target -> {"source", "read_only"}; docker-compose 1.x prints the
    short form source:target[:mode], newer ones objects."""
    out = {}
    for v in s[name]["volumes"]:
        if isinstance(v, str):
            parts = v.split(":")
            out[parts[1]] = {"source": parts[0], "read_only": len(parts) > 2 and parts[2] == "ro"}
        else:
            out[v["target"]] = {"source": v.get("source"), "read_only": bool(v.get("read_only"))}
    return out
o = vols("orchestrator")
ok(all(t in o for t in ("/troupe/tasks", "/troupe/results", "/troupe/runs")), "the orchestrator owns tasks/, results/, runs/")
for w in ("marie", "anga", "fabien"):
    cmd = s[w]["command"]
    ok(cmd[:2] == ["worker", w] and "tcp://orchestrator:5555" in cmd, f"{w}: caf-node worker {w} --connect tcp://orchestrator:5555")
    v = vols(w)
    ok(set(v) == {f"/troupe/workspaces/{w}", f"/troupe/auth-homes/{w}", "/troupe/config", "/troupe/prompts"},
       f"{w} sees only its own workspace and auth home, the config and the prompts")
    ok(v[f"/troupe/auth-homes/{w}"].get("read_only") and v["/troupe/prompts"].get("read_only")
       and v["/troupe/config"].get("read_only"), f"{w}: auth home, prompts and config read-only")
    ok(not any(t.startswith("/troupe/tasks") or t.startswith("/troupe/results") for t in v), f"{w} cannot see tasks/ or results/")
def port(p):
    if isinstance(p, str):  # host_ip:published:target[/proto]
        ip, pub, _ = p.split("/")[0].split(":")
        return ip, pub
    return p.get("host_ip"), str(p["published"])
cfg = json.load(open("config/troupe.json"))
def env_names(name):
    e = s[name].get("environment") or {}
    return sorted(e) if isinstance(e, dict) else sorted(x.split("=")[0] for x in e)
for w in ("marie", "anga", "fabien"):
    ok(env_names(w) == [cfg["workers"][w]["api_key_env"]],
       f"{w}: the compose file passes the key variable the config names ({cfg['workers'][w]['api_key_env']}), no other")
ok(env_names("orchestrator") == [cfg["orchestrator"]["api_key_env"]],
   "the orchestrator gets the key variable the config names for it")
ok(o.get("/troupe/auth-homes/orchestrator", {}).get("read_only"),
   "the orchestrator sees its own auth home (read-only): plans and answers need a login or key")
ports = sorted(port(p) for p in s["orchestrator"].get("ports", []))
ok(ports == [("127.0.0.1", "5556"), ("127.0.0.1", "5557")],
   "producers and events published on the host's loopback only; the worker endpoint stays inside")
PYEOF
read_checks "$WORK/checks.txt"
check "the Dockerfile builds from Debian packages and pins the CLI the tests prove" bash -c "
  grep -q '^FROM debian:12' docker/Dockerfile &&
  grep -q \"CLAUDE_CODE_VERSION=\$(jq -r '.dependencies[\"@anthropic-ai/claude-code\"]' tests/claude-cli/package.json)\" docker/Dockerfile"
check "the image's build stage has every library the build needs (install-deps.sh's -dev packages but the tests')" bash -c "
  for p in \$(grep -o '[a-z0-9.+-]*-dev' scripts/install-deps.sh | grep -v -e gtest -e clang-rt); do
    sed -n '/AS build/,/^FROM/p' docker/Dockerfile | grep -qw -- \"\$p\" || { echo \"missing \$p\"; exit 1; }
  done"

# --- the shared queue on top: docker-compose.redis.yml --------------------------
check "docker-compose config validates the file with docker-compose.redis.yml" \
  docker-compose -f docker-compose.yml -f docker-compose.redis.yml config -q
docker-compose -f docker-compose.yml -f docker-compose.redis.yml config >"$WORK/redis.yml"
"$PY" - "$WORK/redis.yml" >"$WORK/redis-checks.txt" <<'PYEOF'
import sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["services"]
def ok(c, what): print(("ok " if c else "FAIL ") + what)
ok({"redis", "orchestrator", "orchestrator-b"} <= set(s), "redis and a second orchestrator join the services")
for o in ("orchestrator", "orchestrator-b"):
    cmd = s[o]["command"]
    ok("--queue" in cmd and cmd[cmd.index("--queue") + 1] == "redis://redis:6379",
       f"{o} takes its tasks from the shared queue, redis://redis:6379")
    ok("redis" in (s[o].get("depends_on") or {}), f"{o} starts after redis")
r = s["redis"]
ok(r.get("entrypoint") == ["redis-server"] and r["command"][0] == "/troupe/config/redis.conf",
   "redis runs the shipped config/redis.conf (AOF on)")
ok(not r.get("ports"), "redis publishes no port on the host")
def vol(v):  # (source, target) from "source:target[:mode]" or the long form
    if isinstance(v, str):
        parts = v.split(":")
        return parts[0], parts[1]
    return v["source"], v["target"]
roots = lambda o: sorted(src for src, t in map(vol, s[o]["volumes"]) if t in ("/troupe/tasks", "/troupe/results", "/troupe/runs"))
ok(len(roots("orchestrator-b")) == 3 and not set(roots("orchestrator")) & set(roots("orchestrator-b")),
   "each orchestrator keeps its own root (tasks/, results/, runs/)")
def port(p):
    if isinstance(p, str):  # host_ip:published:target[/proto]
        ip, pub, _ = p.split("/")[0].split(":")
        return ip, pub
    return p.get("host_ip"), str(p["published"])
ok(sorted(map(port, s["orchestrator-b"].get("ports", []))) == [("127.0.0.1", "5566"), ("127.0.0.1", "5567")],
   "orchestrator-b's producers and events on the host's loopback, on ports of its own")
PYEOF
read_checks "$WORK/redis-checks.txt"
finish

#include "bridge/redis/redis_queue.hpp"

#include <algorithm>
#include <cstdlib>
#include <array>
#include <map>

#include "core/clock.hpp"
#include "core/json_codec.hpp"

namespace troupe {

namespace {

// Scripts run atomically in Redis: each is one step of a task's life that
// must not be seen half done by another orchestrator. They touch keys
// derived from the prefix (ARGV), so the queue is for a single Redis, not
// a cluster (docs/QUEUE.md).

// Forgets a waiting task's bookkeeping (its wait hash, its missing set and
// its place among its dependencies' waiters).
constexpr const char* lua_release_waiting = R"lua(
local function release_waiting(p, id)
  for _, m in ipairs(redis.call('SMEMBERS', p .. 'missing:' .. id)) do
    redis.call('SREM', p .. 'waiters:' .. m, id)
  end
  redis.call('DEL', p .. 'missing:' .. id, p .. 'wait:' .. id)
  redis.call('SREM', p .. 'waiting', id)
end
)lua";

// KEYS: results, outcome, known. ARGV: prefix, id, worker, prio, task
// json, since (unix ms), ready channel, dependencies...
constexpr const char* lua_enqueue_body = R"lua(
local p, id, worker, prio, body = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HEXISTS', KEYS[1], id) == 1 then return 'done' end
if redis.call('HSETNX', KEYS[3], id, worker) == 0 then return 'duplicate' end
local stream = p .. 'tasks:' .. worker .. ':' .. prio
local missing = {}
for i = 8, #ARGV do
  local d = ARGV[i]
  local ok = redis.call('HGET', KEYS[2], d)
  if not ok then
    table.insert(missing, d)
  elseif ok ~= '1' then
    redis.call('XADD', stream, '*', 'id', id, 'task', body, 'doomed_by', d)
    redis.call('PUBLISH', ARGV[7], worker)
    return 'queued'
  end
end
if #missing == 0 then
  redis.call('XADD', stream, '*', 'id', id, 'task', body)
  redis.call('PUBLISH', ARGV[7], worker)
  return 'queued'
end
redis.call('HSET', p .. 'wait:' .. id, 'worker', worker, 'prio', prio, 'task', body,
           'since', ARGV[6])
for _, d in ipairs(missing) do
  redis.call('SADD', p .. 'waiters:' .. d, id)
  redis.call('SADD', p .. 'missing:' .. id, d)
end
redis.call('SADD', p .. 'waiting', id)
return 'waiting'
)lua";

// KEYS: results, outcome, known, stream. ARGV: prefix, id, result json,
// ok ('1' or '0'), entry ('' for a task that never ran), group, results
// channel, ready channel.
// The result is kept only if it is the first; what waited for the task
// goes to its stream (released, or doomed when this one failed).
constexpr const char* lua_complete_body = R"lua(
local p, id = ARGV[1], ARGV[2]
if ARGV[5] ~= '' then
  redis.call('XACK', KEYS[4], ARGV[6], ARGV[5])
  redis.call('XDEL', KEYS[4], ARGV[5])
end
if redis.call('HSETNX', KEYS[1], id, ARGV[3]) == 0 then return 0 end
redis.call('HSET', KEYS[2], id, ARGV[4])
redis.call('HDEL', KEYS[3], id)
if redis.call('EXISTS', p .. 'wait:' .. id) == 1 then release_waiting(p, id) end
local wk = p .. 'waiters:' .. id
for _, w in ipairs(redis.call('SMEMBERS', wk)) do
  local info = redis.call('HMGET', p .. 'wait:' .. w, 'worker', 'prio', 'task')
  if info[1] then
    local stream = p .. 'tasks:' .. info[1] .. ':' .. info[2]
    if ARGV[4] ~= '1' then
      redis.call('XADD', stream, '*', 'id', w, 'task', info[3], 'doomed_by', id)
      release_waiting(p, w)
      redis.call('PUBLISH', ARGV[8], info[1])
    else
      redis.call('SREM', p .. 'missing:' .. w, id)
      if redis.call('SCARD', p .. 'missing:' .. w) == 0 then
        redis.call('XADD', stream, '*', 'id', w, 'task', info[3])
        release_waiting(p, w)
        redis.call('PUBLISH', ARGV[8], info[1])
      end
    end
  end
end
redis.call('DEL', wk)
redis.call('PUBLISH', ARGV[7], id)
return 1
)lua";

// KEYS: stream. ARGV: group, consumer, entries... Renews the entries still
// ours; returns those that are not.
constexpr const char* lua_extend = R"lua(
local lost = {}
for i = 3, #ARGV do
  local e = ARGV[i]
  local pe = redis.call('XPENDING', KEYS[1], ARGV[1], e, e, 1)
  if pe[1] and pe[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, e, 'JUSTID')
  else
    table.insert(lost, e)
  end
end
return lost
)lua";

// KEYS: stream. ARGV: group, entry, ready channel, worker, then the
// entry's fields and values.
constexpr const char* lua_release = R"lua(
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
local fields = {}
for i = 5, #ARGV do table.insert(fields, ARGV[i]) end
redis.call('XADD', KEYS[1], '*', unpack(fields))
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
)lua";

const std::string& enqueue_script() {
  static const std::string s = std::string{lua_release_waiting} + lua_enqueue_body;
  return s;
}
const std::string& complete_script() {
  static const std::string s = std::string{lua_release_waiting} + lua_complete_body;
  return s;
}

constexpr std::array<priority, 3> by_priority{priority::high, priority::medium, priority::low};

std::string fail(const redis_reply& r, const char* what) {
  return std::string{what} + ": " + r.str;
}

const std::string* field(const redis_reply& fields, const char* name) {
  for (size_t i = 0; i + 1 < fields.elements.size(); i += 2)
    if (fields.elements[i].str == name)
      return &fields.elements[i + 1].str;
  return nullptr;
}

} // namespace

redis_queue::redis_queue(redis_client& c, redis_queue_settings s) : c_(c), s_(std::move(s)) {}

std::string redis_queue::stream_key(const std::string& worker, priority p) const {
  return s_.prefix + "tasks:" + worker + ":" + std::string{to_string(p)};
}

std::string redis_queue::dead_key(const std::string& worker) const {
  return s_.prefix + "dead:" + worker;
}

std::string redis_queue::prepare(const std::vector<std::string>& workers) {
  for (auto& w : workers)
    for (auto p : by_priority) {
      auto r = c_.command({"XGROUP", "CREATE", stream_key(w, p), s_.group, "0", "MKSTREAM"});
      if (r.is_error() && r.str.rfind("BUSYGROUP", 0) != 0)
        return fail(r, "XGROUP CREATE");
    }
  return {};
}

std::optional<redis_queue::enqueued> redis_queue::enqueue(const task& t, std::string& error) {
  std::vector<std::string> args{s_.prefix, t.task_id, t.worker, std::string{to_string(t.prio)},
                                to_json(t).dump(), std::to_string(unix_now_ms()),
                                ready_channel()};
  args.insert(args.end(), t.dependencies.begin(), t.dependencies.end());
  auto r = c_.eval(enqueue_script(), {key("results"), key("outcome"), key("known")}, args);
  if (r.is_error()) {
    error = fail(r, "enqueue");
    return std::nullopt;
  }
  if (r.str == "queued")
    return enqueued::queued;
  if (r.str == "waiting")
    return enqueued::waiting;
  if (r.str == "duplicate")
    return enqueued::duplicate;
  return enqueued::done;
}

std::vector<claimed_task> redis_queue::decode(const redis_reply& entries,
                                              const std::string& stream, bool taken_over,
                                              std::vector<bad_entry>* bad) {
  std::vector<claimed_task> out;
  for (auto& e : entries.elements) {
    // An entry deleted while pending comes back as nil (Redis 6.2) or
    // without fields: nothing to run.
    if (e.elements.size() < 2 || e.elements[1].elements.empty())
      continue;
    claimed_task c;
    c.stream = stream;
    c.entry = e.elements[0].str;
    c.taken_over = taken_over;
    auto& fields = e.elements[1];
    auto* id = field(fields, "id");
    auto* body = field(fields, "task");
    problems why;
    std::optional<task> t;
    if (body)
      if (auto j = parse_json_text(*body, why))
        t = task_from_json(*j, why);
    if (!t) {
      if (bad)
        bad->push_back({stream, c.entry, id ? *id : "",
                        why.empty() ? "no task field" : why.front()});
      continue;
    }
    c.t = std::move(*t);
    if (auto* d = field(fields, "doomed_by"))
      c.doomed_by = *d;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<claimed_task> redis_queue::claim(const std::string& worker, size_t max,
                                             std::string& error, std::vector<bad_entry>* bad) {
  // One round trip for the three streams; each gives up to `max`, so the
  // caller may get up to three times that, high priority first.
  std::vector<std::string> argv{"XREADGROUP", "GROUP", s_.group, s_.consumer, "COUNT",
                                std::to_string(max), "STREAMS"};
  for (auto p : by_priority)
    argv.push_back(stream_key(worker, p));
  for (size_t i = 0; i < by_priority.size(); ++i)
    argv.push_back(">");
  auto r = c_.command(argv);
  std::vector<claimed_task> out;
  if (r.is_error()) {
    error = fail(r, "XREADGROUP");
    return out;
  }
  // [[stream, [[entry, fields]...]]...], only the streams that had some.
  for (auto p : by_priority) {
    auto stream = stream_key(worker, p);
    for (auto& sr : r.elements)
      if (sr.elements.size() == 2 && sr.elements[0].str == stream)
        for (auto& c : decode(sr.elements[1], stream, false, bad))
          out.push_back(std::move(c));
  }
  return out;
}

std::vector<claimed_task> redis_queue::take_over(const std::string& worker, size_t max,
                                                 std::string& error,
                                                 std::vector<bad_entry>* bad) {
  std::vector<claimed_task> out;
  for (auto p : by_priority) {
    if (out.size() >= max)
      break;
    auto stream = stream_key(worker, p);
    auto r = c_.command({"XAUTOCLAIM", stream, s_.group, s_.consumer, std::to_string(s_.lease_ms),
                         "0-0", "COUNT", std::to_string(max - out.size())});
    if (r.is_error()) {
      error = fail(r, "XAUTOCLAIM");
      return out;
    }
    if (r.elements.size() < 2)
      continue;
    for (auto& c : decode(r.elements[1], stream, true, bad)) {
      // How often it was delivered: past the limit, it is a dead letter.
      auto pe = c_.command({"XPENDING", stream, s_.group, c.entry, c.entry, "1"});
      if (!pe.elements.empty() && pe.elements[0].elements.size() >= 4)
        c.deliveries = pe.elements[0].elements[3].integer;
      if (c.deliveries > s_.max_deliveries) {
        c.dead = "dead letter: delivered " + std::to_string(c.deliveries)
                 + " times, and each holder stopped before it finished";
        c_.command({"XADD", dead_key(worker), "*", "id", c.t.task_id, "task", to_json(c.t).dump(),
                    "reason", c.dead});
      }
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::vector<std::string> redis_queue::extend(const std::vector<const claimed_task*>& held,
                                             std::string& error) {
  std::vector<std::string> lost;
  // One call per stream.
  std::vector<std::pair<std::string, std::vector<std::string>>> by_stream;
  for (auto* c : held) {
    auto i = std::find_if(by_stream.begin(), by_stream.end(),
                          [&](auto& x) { return x.first == c->stream; });
    if (i == by_stream.end())
      i = by_stream.insert(by_stream.end(), {c->stream, {}});
    i->second.push_back(c->entry);
  }
  for (auto& [stream, entries] : by_stream) {
    std::vector<std::string> args{s_.group, s_.consumer};
    args.insert(args.end(), entries.begin(), entries.end());
    auto r = c_.eval(lua_extend, {stream}, args);
    if (r.is_error()) {
      error = fail(r, "extend");
      continue;
    }
    for (auto& e : r.elements)
      lost.push_back(e.str);
  }
  return lost;
}

std::optional<bool> redis_queue::complete(const claimed_task& c, const result& r,
                                          std::string& error) {
  auto stream = c.stream.empty() ? stream_key(c.t.worker, c.t.prio) : c.stream;
  auto rep = c_.eval(complete_script(), {key("results"), key("outcome"), key("known"), stream},
                     {s_.prefix, c.t.task_id, to_json(r).dump(), r.ok() ? "1" : "0", c.entry,
                      s_.group, results_channel(), ready_channel()});
  if (rep.is_error()) {
    error = fail(rep, "complete");
    return std::nullopt;
  }
  return rep.integer == 1;
}

std::string redis_queue::release(const claimed_task& c) {
  std::vector<std::string> args{s_.group, c.entry, ready_channel(), c.t.worker,
                                "id", c.t.task_id, "task", to_json(c.t).dump()};
  if (!c.doomed_by.empty()) {
    args.push_back("doomed_by");
    args.push_back(c.doomed_by);
  }
  auto r = c_.eval(lua_release, {c.stream}, args);
  return r.is_error() ? fail(r, "release") : "";
}

// KEYS: waiting, known. ARGV: prefix, max. Per waiting task: id, task
// json, since, its missing dependencies, those of them nobody has.
constexpr const char* lua_waiting = R"lua(
local out = {}
for _, id in ipairs(redis.call('SRANDMEMBER', KEYS[1], tonumber(ARGV[2]))) do
  local w = redis.call('HMGET', ARGV[1] .. 'wait:' .. id, 'task', 'since')
  local missing = redis.call('SMEMBERS', ARGV[1] .. 'missing:' .. id)
  local unknown = {}
  for _, m in ipairs(missing) do
    if redis.call('HEXISTS', KEYS[2], m) == 0 then table.insert(unknown, m) end
  end
  table.insert(out, {id, w[1] or '', w[2] or '0', missing, unknown})
end
return out
)lua";

std::vector<waiting_entry> redis_queue::waiting_tasks(size_t max, std::string& error) {
  std::vector<waiting_entry> out;
  auto r = c_.eval(lua_waiting, {key("waiting"), key("known")},
                   {s_.prefix, std::to_string(max)});
  if (r.is_error()) {
    error = fail(r, "waiting");
    return out;
  }
  auto strings = [](const redis_reply& xs) {
    std::vector<std::string> v;
    for (auto& x : xs.elements)
      v.push_back(x.str);
    return v;
  };
  for (auto& e : r.elements) {
    if (e.elements.size() < 5)
      continue;
    problems why;
    std::optional<task> t;
    if (auto j = parse_json_text(e.elements[1].str, why))
      t = task_from_json(*j, why);
    if (!t)
      continue;
    waiting_entry w;
    w.t = std::move(*t);
    w.since_ms = std::strtoll(e.elements[2].str.c_str(), nullptr, 10);
    w.missing = strings(e.elements[3]);
    w.unknown = strings(e.elements[4]);
    out.push_back(std::move(w));
  }
  return out;
}

std::optional<result> redis_queue::find_result(const std::string& task_id, std::string& error) {
  auto r = c_.command({"HGET", key("results"), task_id});
  if (r.is_error()) {
    error = fail(r, "HGET");
    return std::nullopt;
  }
  if (r.is_nil())
    return std::nullopt;
  problems why;
  if (auto j = parse_json_text(r.str, why))
    if (auto res = result_from_json(*j, why))
      return res;
  error = "result of " + task_id + " does not decode: " + (why.empty() ? "?" : why.front());
  return std::nullopt;
}

std::string redis_queue::note_imported(const std::string& origin, const std::string& worker,
                                       const std::string& task_id) {
  auto r = c_.command({"SADD", s_.prefix + "imported:" + origin, worker + "/" + task_id});
  return r.is_error() ? fail(r, "SADD") : "";
}

std::vector<std::pair<std::string, std::string>>
redis_queue::imported(const std::string& origin, std::string& error) {
  std::vector<std::pair<std::string, std::string>> out;
  auto r = c_.command({"SMEMBERS", s_.prefix + "imported:" + origin});
  if (r.is_error()) {
    error = fail(r, "SMEMBERS");
    return out;
  }
  for (auto& m : r.elements)
    if (auto slash = m.str.find('/'); slash != std::string::npos)
      out.emplace_back(m.str.substr(0, slash), m.str.substr(slash + 1));
  return out;
}

void redis_queue::forget_imported(const std::string& origin, const std::string& worker,
                                  const std::string& task_id) {
  c_.command({"SREM", s_.prefix + "imported:" + origin, worker + "/" + task_id});
}

redis_queue::worker_counts redis_queue::counts(const std::string& worker, std::string& error) {
  worker_counts n;
  for (auto p : by_priority) {
    auto stream = stream_key(worker, p);
    auto len = c_.command({"XLEN", stream});
    auto pend = c_.command({"XPENDING", stream, s_.group});
    if (len.is_error() || pend.is_error()) {
      error = fail(len.is_error() ? len : pend, "counts");
      return n;
    }
    auto pending = pend.elements.empty() ? 0 : pend.elements[0].integer;
    n.claimed += pending;
    n.queued += len.integer - pending;
  }
  auto dead = c_.command({"XLEN", dead_key(worker)});
  n.dead = dead.integer;
  return n;
}

int64_t redis_queue::results(std::string& error) {
  auto r = c_.command({"HLEN", key("results")});
  if (r.is_error())
    error = fail(r, "HLEN");
  return r.integer;
}

std::vector<redis_queue::consumer_info> redis_queue::consumers(const std::string& worker,
                                                               std::string& error) {
  std::map<std::string, consumer_info> by_name;
  for (auto p : by_priority) {
    auto r = c_.command({"XINFO", "CONSUMERS", stream_key(worker, p), s_.group});
    if (r.is_error()) {
      if (r.str.find("no such key") == std::string::npos)
        error = fail(r, "XINFO CONSUMERS");
      continue;
    }
    for (auto& c : r.elements) {
      consumer_info info;
      for (size_t i = 0; i + 1 < c.elements.size(); i += 2) {
        auto& k = c.elements[i].str;
        auto& v = c.elements[i + 1];
        if (k == "name")
          info.name = v.str;
        else if (k == "pending")
          info.pending = v.integer;
        else if (k == "idle")
          info.idle_ms = v.integer;
      }
      auto [it, fresh] = by_name.emplace(info.name, info);
      if (!fresh) {
        it->second.pending += info.pending;
        it->second.idle_ms = std::min(it->second.idle_ms, info.idle_ms);
      }
    }
  }
  std::vector<consumer_info> out;
  for (auto& [n, c] : by_name)
    out.push_back(c);
  return out;
}

int64_t redis_queue::waiting(std::string& error) {
  auto r = c_.command({"SCARD", key("waiting")});
  if (r.is_error())
    error = fail(r, "SCARD");
  return r.integer;
}

} // namespace troupe

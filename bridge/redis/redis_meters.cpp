#include "bridge/redis/redis_meters.hpp"

#include <cstdio>
#include <cstdlib>

namespace troupe {

namespace {

// The buckets' arithmetic is token_bucket's (core/token_bucket.cpp), done
// in Redis. A meter's hash: 't' (its last refill, unix ms by Redis's
// clock), 'r' 'i' 'o' (the levels of requests, input and output tokens),
// and for each orchestrator holding reservations 'h:<name>' ("r i o") and
// 's:<name>' (when it last touched the meter). ARGV always begins: this
// orchestrator's name, stale ms, ttl ms, the three limits per minute.
// Numbers go as %.17g text: Lua would truncate a returned number.
constexpr const char* lua_meter = R"lua(
local names = {'r', 'i', 'o'}
local me, stale, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local function num(x) return string.format('%.17g', x) end
local function three(k) return {tonumber(ARGV[k]), tonumber(ARGV[k + 1]), tonumber(ARGV[k + 2])} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function load(key, caps)
  local m = {key = key, caps = caps, level = {}, mine = {0, 0, 0}, pending = {0, 0, 0},
             limited = caps[1] > 0 or caps[2] > 0 or caps[3] > 0}
  if not m.limited then return m end
  local f = {}
  local h = redis.call('HGETALL', key)
  for k = 1, #h, 2 do f[h[k]] = h[k + 1] end
  for j = 1, 3 do m.level[j] = tonumber(f[names[j]] or caps[j]) end
  for k, v in pairs(f) do
    if string.sub(k, 1, 2) == 'h:' then
      local who = string.sub(k, 3)
      local held = {}
      for x in string.gmatch(v, '%S+') do held[#held + 1] = tonumber(x) end
      if who ~= me and now - tonumber(f['s:' .. who] or 0) > stale then
        redis.call('HDEL', key, k, 's:' .. who) -- gone: it holds nothing now
      else
        for j = 1, 3 do m.pending[j] = m.pending[j] + held[j] end
        if who == me then m.mine = held end
      end
    end
  end
  local dt = math.max(0, now - tonumber(f.t or now)) / 1000
  for j = 1, 3 do
    local c = caps[j]
    local room = c - m.pending[j]
    if c > 0 and m.level[j] < room then
      m.level[j] = math.min(room, m.level[j] + dt * c / 60)
    end
  end
  return m
end
local function save(m)
  if not m.limited then return end
  redis.call('HSET', m.key, 't', num(now), 'r', num(m.level[1]), 'i', num(m.level[2]),
             'o', num(m.level[3]))
  if m.mine[1] > 0 or m.mine[2] > 0 or m.mine[3] > 0 then
    redis.call('HSET', m.key, 'h:' .. me,
               num(m.mine[1]) .. ' ' .. num(m.mine[2]) .. ' ' .. num(m.mine[3]), 's:' .. me, num(now))
  else
    redis.call('HDEL', m.key, 'h:' .. me, 's:' .. me)
  end
  redis.call('PEXPIRE', m.key, ttl)
end
local function levels(m, out)
  for j = 1, 3 do out[#out + 1] = num(m.limited and m.level[j] or 0) end
  return out
end
)lua";

// KEYS: global, worker. ARGV: (common, global limits), worker limits,
// amounts. Returns 0 granted, 1 blocked by the global buckets, 2 by the
// worker's; then both meters' levels.
constexpr const char* lua_reserve_body = R"lua(
local g, w, a = load(KEYS[1], three(4)), load(KEYS[2], three(7)), three(10)
local function can(m)
  if not m.limited then return true end
  for j = 1, 3 do
    local c = m.caps[j]
    if c > 0 and m.level[j] + 1e-9 < math.min(a[j], c) then return false end
  end
  return true
end
local function take(m)
  if not m.limited then return end
  for j = 1, 3 do
    if m.caps[j] > 0 then
      m.level[j] = m.level[j] - a[j]
      m.mine[j] = m.mine[j] + a[j]
    end
  end
  save(m)
end
local out = 0
if not can(g) then out = 1 elseif not can(w) then out = 2 else take(g); take(w) end
return levels(w, levels(g, {out}))
)lua";

// KEYS: the meter. ARGV: (common), reserved, used.
constexpr const char* lua_settle_body = R"lua(
local m, res, used = load(KEYS[1], three(4)), three(7), three(10)
if not m.limited then return {} end
for j = 1, 3 do
  local c = m.caps[j]
  if c > 0 then
    local before = m.mine[j]
    m.mine[j] = math.max(0, before - res[j])
    local pending = m.pending[j] - (before - m.mine[j])
    if used[j] > res[j] then
      m.level[j] = m.level[j] - (used[j] - res[j])
    else
      m.level[j] = math.min(c - pending, m.level[j] + (res[j] - used[j]))
    end
  end
end
save(m)
return levels(m, {})
)lua";

// KEYS: the meter. ARGV: (common). Returns what the buckets held.
constexpr const char* lua_empty_body = R"lua(
local m = load(KEYS[1], three(4))
if not m.limited then return {} end
local taken = {}
for j = 1, 3 do
  local x = 0
  if m.caps[j] > 0 and m.level[j] > 0 then
    x = m.level[j]
    m.level[j] = 0
  end
  taken[j] = num(x)
end
save(m)
return taken
)lua";

// KEYS: the meter. ARGV: (common), what remains (negative: not said).
constexpr const char* lua_cap_body = R"lua(
local m, left = load(KEYS[1], three(4)), three(7)
if not m.limited then return {} end
for j = 1, 3 do
  if m.caps[j] > 0 and left[j] >= 0 and left[j] < m.level[j] then m.level[j] = left[j] end
end
save(m)
return levels(m, {})
)lua";

std::string with_prelude(const char* body) {
  return std::string{lua_meter} + body;
}

std::string num(double x) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", x);
  return b;
}

void push(std::vector<std::string>& args, const rate_limits& l) {
  args.push_back(num(l.requests_per_min));
  args.push_back(num(l.input_tokens_per_min));
  args.push_back(num(l.output_tokens_per_min));
}

void push(std::vector<std::string>& args, const meter_amounts& a) {
  args.push_back(num(a.requests));
  args.push_back(num(a.input));
  args.push_back(num(a.output));
}

double number_at(const redis_reply& r, size_t i) {
  return i < r.elements.size() ? std::strtod(r.elements[i].str.c_str(), nullptr) : 0;
}

/// When Redis is down: try again in a second.
constexpr auto retry_after = std::chrono::seconds(1);

} // namespace

redis_meters::redis_meters(redis_meters_settings s) : s_(std::move(s)) {
}

redis_meters::~redis_meters() = default;

std::string redis_meters::key(const meter_ref& m) const {
  return s_.prefix + "meter:" + m.key;
}

redis_client* redis_meters::client(steady_time now) {
  if (c_ && c_->connected())
    return c_.get();
  if (now < next_connect_)
    return nullptr;
  next_connect_ = now + retry_after;
  c_ = std::make_unique<redis_client>(s_.url, s_.timeout);
  if (c_->connected())
    return c_.get();
  if (!down_ && s_.warn)
    s_.warn("the shared rate limits cannot be reached (" + c_->error()
            + "): nothing is granted until they can");
  down_ = true;
  return nullptr;
}

redis_reply redis_meters::run(const std::string& script, const std::vector<std::string>& keys,
                              std::vector<std::string> args, steady_time now) {
  auto* c = client(now);
  if (!c) {
    redis_reply r;
    r.t = redis_reply::type::error;
    r.str = "connection: down";
    return r;
  }
  args.insert(args.begin(), {s_.consumer, std::to_string(s_.stale.count()),
                             std::to_string(s_.ttl.count())});
  auto r = c->eval(script, keys, args);
  if (r.is_error()) {
    if (!down_ && s_.warn)
      s_.warn("the shared rate limits failed: " + r.str
              + (c->connected() ? "" : ": nothing is granted until they can be reached"));
    down_ = true;
    if (c->connected()) // a script's error, not an outage: no retry storm
      next_connect_ = now + retry_after;
  } else if (down_) {
    down_ = false;
    if (s_.warn)
      s_.warn("the shared rate limits are reached again");
  }
  return r;
}

void redis_meters::remember(const meter_ref& m, const redis_reply& r, size_t first,
                            steady_time now) {
  meter_amounts level{number_at(r, first), number_at(r, first + 1), number_at(r, first + 2)};
  seen_.insert_or_assign(m.key, local_meter_store::meters{m.limits, level, now});
}

reserve_outcome redis_meters::reserve(const meter_ref& global, const meter_ref& worker,
                                      const meter_amounts& a, steady_time now) {
  static const std::string reserve_script = with_prelude(lua_reserve_body);
  std::vector<std::string> args;
  push(args, global.limits);
  push(args, worker.limits);
  push(args, a);
  auto r = run(reserve_script, {key(global), key(worker)}, std::move(args), now);
  if (r.is_error() || r.elements.size() < 7) {
    seen_.erase(global.key); // time_until: try again in a second
    return reserve_outcome::global_blocked;
  }
  remember(global, r, 1, now);
  remember(worker, r, 4, now);
  switch (r.elements[0].integer) {
    case 0:
      return reserve_outcome::granted;
    case 1:
      return reserve_outcome::global_blocked;
    default:
      return reserve_outcome::worker_blocked;
  }
}

steady_duration redis_meters::time_until(const meter_ref& global, const meter_ref& worker,
                                         const meter_amounts& a, steady_time now) {
  auto g = seen_.find(global.key);
  auto w = seen_.find(worker.key);
  if (g == seen_.end() || w == seen_.end())
    return retry_after; // never reserved, or Redis was down
  g->second.refill(now);
  w->second.refill(now);
  return std::max(g->second.time_until(a), w->second.time_until(a));
}

void redis_meters::settle(const meter_ref& m, const meter_amounts& reserved,
                          const meter_amounts& used, steady_time now) {
  if (m.limits.unlimited())
    return;
  static const std::string settle_script = with_prelude(lua_settle_body);
  std::vector<std::string> args;
  push(args, m.limits);
  push(args, reserved);
  push(args, used);
  auto r = run(settle_script, {key(m)}, std::move(args), now);
  if (!r.is_error())
    remember(m, r, 0, now);
}

meter_amounts redis_meters::empty(const meter_ref& m, steady_time now) {
  if (m.limits.unlimited())
    return {};
  static const std::string empty_script = with_prelude(lua_empty_body);
  std::vector<std::string> args;
  push(args, m.limits);
  auto r = run(empty_script, {key(m)}, std::move(args), now);
  if (r.is_error())
    return {};
  seen_.insert_or_assign(m.key, local_meter_store::meters{m.limits, meter_amounts{}, now});
  return {number_at(r, 0), number_at(r, 1), number_at(r, 2)};
}

void redis_meters::cap(const meter_ref& m, const meter_amounts& remaining, steady_time now) {
  if (m.limits.unlimited())
    return;
  static const std::string cap_script = with_prelude(lua_cap_body);
  std::vector<std::string> args;
  push(args, m.limits);
  push(args, remaining);
  auto r = run(cap_script, {key(m)}, std::move(args), now);
  if (!r.is_error())
    remember(m, r, 0, now);
}

} // namespace troupe

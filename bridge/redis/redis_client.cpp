#include "bridge/redis/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <sys/socket.h>

namespace troupe {

namespace {

redis_reply copy(const redisReply* r) {
  redis_reply out;
  if (!r)
    return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.t = redis_reply::type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.t = redis_reply::type::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.t = redis_reply::type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.t = redis_reply::type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.t = redis_reply::type::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(copy(r->element[i]));
      break;
    default:
      break;
  }
  return out;
}

redis_reply broken(const std::string& why) {
  redis_reply r;
  r.t = redis_reply::type::error;
  r.str = "connection: " + why;
  return r;
}

} // namespace

redis_client::redis_client(const redis_url& u, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ctx_ = redisConnectWithTimeout(u.host.c_str(), u.port, tv);
  auto where = "redis://" + u.host + ":" + std::to_string(u.port);
  if (!ctx_ || ctx_->err) {
    error_ = "cannot reach " + where + ": " + (ctx_ ? ctx_->errstr : "out of memory");
    return;
  }
  redisSetTimeout(ctx_, tv);
  if (!u.password.empty()) {
    auto r = u.user.empty() ? command({"AUTH", u.password})
                            : command({"AUTH", u.user, u.password});
    if (r.is_error()) {
      error_ = where + " refused the password: " + r.str;
      return;
    }
  }
  if (u.db != 0) {
    auto r = command({"SELECT", std::to_string(u.db)});
    if (r.is_error()) {
      error_ = where + ": SELECT " + std::to_string(u.db) + ": " + r.str;
      return;
    }
  }
  auto pong = command({"PING"});
  if (pong.is_error())
    error_ = where + ": " + pong.str; // NOAUTH: a password is needed
}

redis_client::~redis_client() {
  if (ctx_)
    redisFree(ctx_);
}

redis_reply redis_client::command(const std::vector<std::string>& argv) {
  if (!ctx_ || ctx_->err)
    return broken(ctx_ ? ctx_->errstr : "not connected");
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
    redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
  if (!raw) {
    error_ = ctx_->errstr;
    return broken(ctx_->errstr);
  }
  auto out = copy(raw);
  freeReplyObject(raw);
  return out;
}

bool redis_client::next_message(std::string& channel, std::string& payload) {
  for (;;) {
    if (!ctx_ || ctx_->err)
      return false;
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw)
      return false;
    auto r = copy(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    // ["message", channel, payload]; subscribe confirmations are skipped.
    if (r.elements.size() == 3 && r.elements[0].str == "message") {
      channel = r.elements[1].str;
      payload = r.elements[2].str;
      return true;
    }
  }
}

void redis_client::interrupt() {
  if (ctx_ && ctx_->fd >= 0)
    ::shutdown(ctx_->fd, SHUT_RDWR);
}

redis_reply redis_client::eval(const std::string& script, const std::vector<std::string>& keys,
                               const std::vector<std::string>& args) {
  std::string sha;
  for (auto& [s, h] : shas_)
    if (&s == &script || s == script)
      sha = h;
  auto run = [&](const std::string& h) {
    std::vector<std::string> argv{"EVALSHA", h, std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return command(argv);
  };
  if (!sha.empty()) {
    auto r = run(sha);
    if (!(r.is_error() && r.str.rfind("NOSCRIPT", 0) == 0))
      return r;
  }
  auto loaded = command({"SCRIPT", "LOAD", script});
  if (loaded.is_error())
    return loaded;
  bool known = false;
  for (auto& [s, h] : shas_)
    if (s == script) {
      h = loaded.str;
      known = true;
    }
  if (!known)
    shas_.emplace_back(script, loaded.str);
  return run(loaded.str);
}

} // namespace troupe

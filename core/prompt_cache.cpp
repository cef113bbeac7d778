#include "core/prompt_cache.hpp"

#include "core/json_codec.hpp"

namespace troupe {

namespace {

// FNV-1a, 64 bits: prefixes are told apart, not secured (nothing here is
// sent anywhere).
struct fnv {
  uint64_t h = 1469598103934665603ull;
  void add(std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  }
};

// The CLI's attribution line (its version and a fingerprint of the first
// message, which differs between tasks) is read by the API, not prompted:
// counted as part of the prefix, no two tasks would share a cache. This
// is an assumption about the API, the same the mock makes.
bool attribution(const json& b) {
  if (!b.is_object())
    return false;
  return string_member(b, "text").rfind("x-anthropic-billing-header:", 0) == 0;
}

} // namespace

std::optional<request_shape> shape_of_request(std::string_view body,
                                              std::string_view account) {
  auto j = parse_json_or_discard(body);
  if (!j.is_object())
    return std::nullopt;
  request_shape r;
  r.model = string_member(j, "model");
  r.stream = bool_member(j, "stream", false);
  r.max_tokens = static_cast<double>(std::max<int64_t>(0, int_member(j, "max_tokens")));
  std::vector<std::pair<uint64_t, size_t>> bounds;
  fnv h;
  h.add(account);
  h.add("\n");
  h.add(r.model);
  auto block = [&](std::string_view role, const json& b) {
    bool mark = b.is_object() && b.contains("cache_control");
    // The breakpoint itself is no part of the prefix: it moves on as a
    // conversation grows while the prefix stays cached.
    std::string text{role};
    if (mark) {
      auto plain = b;
      plain.erase("cache_control");
      text += plain.dump();
    } else {
      text += b.dump();
    }
    h.add(text);
    r.bytes += text.size();
    bounds.emplace_back(h.h, r.bytes);
    if (mark) {
      r.marks.emplace_back(h.h, r.bytes);
      auto from = bounds.size() > cache_lookback ? bounds.size() - cache_lookback : 0;
      r.looked.insert(r.looked.end(), bounds.begin() + from, bounds.end());
    }
  };
  if (auto t = j.find("tools"); t != j.end() && t->is_array())
    for (auto& b : *t)
      block("tool", b);
  if (auto s = j.find("system"); s != j.end()) {
    if (s->is_array()) {
      for (auto& b : *s)
        if (!attribution(b))
          block("system", b);
    } else if (s->is_string()) {
      block("system", json{{"type", "text"}, {"text", *s}});
    }
  }
  if (auto m = j.find("messages"); m != j.end() && m->is_array())
    for (auto& msg : *m) {
      if (!msg.is_object())
        continue;
      auto role = string_member(msg, "role");
      auto c = msg.find("content");
      if (c == msg.end())
        continue;
      if (c->is_array())
        for (auto& b : *c)
          block(role, b);
      else
        block(role, json{{"type", "text"}, {"text", *c}});
    }
  return r;
}

double prompt_cache::metered_estimate(const request_shape& r,
                                      steady_time now) const {
  size_t read = 0;
  for (auto& [hash, bytes] : r.looked) {
    auto i = until_.find(hash);
    if (i != until_.end() && i->second > now)
      read = std::max(read, bytes);
  }
  return tokens_of_bytes(r.bytes - read);
}

void prompt_cache::store(const request_shape& r, steady_time now) {
  for (auto& m : r.marks)
    until_[m.first] = now + ttl_;
  // Expired prefixes go once per TTL, so the map holds what lives.
  if (now >= next_prune_) {
    for (auto i = until_.begin(); i != until_.end();)
      i = i->second <= now ? until_.erase(i) : std::next(i);
    next_prune_ = now + ttl_;
  }
}

} // namespace troupe

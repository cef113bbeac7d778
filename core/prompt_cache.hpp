#pragma once

// The gateway's model of the API's prompt cache, to estimate what a Messages
// request will be metered before it is sent: the API counts input and cache
// creation against the input-tokens limit, not cache reads. A block marked
// with cache_control ends a cached prefix; a prefix stays cached for
// prompt_cache_ttl after its last use. Pure: time is passed in.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/token_bucket.hpp" // steady_time

namespace troupe {

/// How long the API keeps a prompt prefix cached after its last use (the
/// default "ephemeral" cache).
constexpr std::chrono::minutes prompt_cache_ttl{5};

/// What the gateway meters a Messages request by.
struct request_shape {
  std::string model;
  bool stream = false;
  double max_tokens = 0;
  /// The prompt's size in bytes: tools, system, then each message's blocks.
  size_t bytes = 0;
  /// Each cache breakpoint: a hash of the prefix through it, and its size.
  std::vector<std::pair<uint64_t, size_t>> marks;
  /// Where the API looks for a cached prefix: the block boundaries up to
  /// each breakpoint, cache_lookback of them (hash and size, as marks).
  std::vector<std::pair<uint64_t, size_t>> looked;
};

/// Block boundaries up to a breakpoint at which the API looks for a cached
/// prefix: the CLI moves its breakpoint to the newest message each turn,
/// and the last turn's is found.
inline constexpr size_t cache_lookback = 20;

/// nullopt when the body is no JSON object (the API refuses it: the
/// gateway passes it on unmetered). `account` seeds the prefix hashes, for
/// caches that must not be shared.
std::optional<request_shape> shape_of_request(std::string_view body,
                                              std::string_view account = {});

/// Input tokens at four bytes a token (the API's own count is settled
/// after the response).
inline double tokens_of_bytes(size_t bytes) {
  return static_cast<double>(bytes) / 4.0;
}

class prompt_cache {
public:
  explicit prompt_cache(steady_duration ttl = prompt_cache_ttl) : ttl_(ttl) {}

  /// The tokens the API will meter as input: everything after the longest
  /// prefix still cached.
  double metered_estimate(const request_shape& r, steady_time now) const;

  /// An answered request caches (or refreshes) each of its prefixes.
  void store(const request_shape& r, steady_time now);

  size_t size() const { return until_.size(); }

private:
  steady_duration ttl_;
  std::unordered_map<uint64_t, steady_time> until_;
  steady_time next_prune_{};
};

} // namespace troupe

#pragma once

// The rate limiter's logic, free of actors: buckets for requests, input and
// output tokens per worker and global (per model class); a queue of permit
// requests served high priority first, FIFO within a priority; estimates
// reconciled with actual usage. The rate_limiter actor wraps this.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/meter_store.hpp"
#include "core/prompt_cache.hpp"

namespace troupe {

struct permit_ask {
  uint64_t id = 0;
  std::string worker;
  std::string model;
  priority prio = priority::medium;
  double requests = 1;
  double input_tokens = 0;
  /// The part of input_tokens that a warm prompt cache serves (the CLI's
  /// tool schemas and the system prompt): the API meters it on a cold run
  /// (cache creation counts as input), not on a warm one (cache reads do
  /// not count).
  double prefix_tokens = 0;
  double output_tokens = 0;
  /// One API request that the gateway holds: its figures are the
  /// request's own (its body's input, its max_tokens), reserved as they
  /// are; no run's averages estimate or learn from it.
  bool exact = false;
  /// In the answer: not granted, the day's spend cap is reached (config
  /// limits.spend_per_day_usd) until this moment (unix ms); 0: granted.
  int64_t capped_until_ms = 0;
};

/// A worker's ask to start a run whose requests the gateway holds: it
/// meters nothing, and waits only while the account itself is paused (a
/// subscription window), so no CLI starts only to wait hours for its
/// first request. Never settled.
inline permit_ask gate_ask(const std::string& worker) {
  permit_ask a;
  a.worker = worker;
  a.model = "";
  a.requests = 0;
  a.exact = true;
  return a;
}
inline bool is_gate(const permit_ask& a) {
  return a.exact && a.requests == 0 && a.input_tokens == 0 && a.output_tokens == 0;
}

// prompt_cache_ttl: a worker whose last run ended longer ago starts cold.

/// The model of a cooldown that holds every class: the account itself.
inline constexpr const char* every_model = "*";

/// "opus", "sonnet", "haiku", or the model name itself: Anthropic meters
/// limits per model class.
std::string model_class(const std::string& model);

class limiter_core {
public:
  /// `store`: where the buckets live (null: in this process).
  limiter_core(rate_limits global,
               std::map<std::string, rate_limits> per_worker, steady_time now,
               std::shared_ptr<meter_store> store = nullptr);

  void enqueue(permit_ask a);

  /// Grants what the buckets allow now, in order. A request blocked by the
  /// global buckets blocks everything behind it (so it is never starved by
  /// smaller ones); one blocked by its worker's buckets blocks that worker.
  std::vector<permit_ask> grant(steady_time now);

  /// When grant() may succeed again; nullopt if nothing waits.
  std::optional<steady_duration> next_try(steady_time now);

  /// Fills an ask's estimates from what this worker's runs used so far:
  /// moving averages of input, output and requests per run, kept apart for
  /// cold runs (no run of the worker ended within prompt_cache_ttl: the
  /// first request creates the cache, and creation counts) and warm ones.
  /// The ask's own figures (from the prompt's size) are the floor, less its
  /// prefix_tokens when warm. Remembers which it was, for settle().
  void estimate(permit_ask& a, steady_time now);

  /// Settles a granted permit against what the run actually used.
  void settle(const permit_ask& granted, double requests, double input_tokens,
              double output_tokens, steady_time now);

  /// A 429 came back although we stayed within our buckets (another client
  /// of the account, or the API's own burst rules): nothing of that model
  /// class is granted for `wait` (the API's retry-after), and its global
  /// buckets are emptied, so the account's traffic comes back gradually.
  /// What the emptying took is the overrun of the runs granted before it
  /// as far as the API had seen it: it is credited against their overruns
  /// when they settle, so no token is counted twice, while what they use
  /// after the 429 still counts.
  /// With model `every_model` the whole account waits (a subscription
  /// window that rejects it): every class, for `wait`, and nothing is
  /// emptied, as per-minute buckets are not what ran out.
  void cool_down(const std::string& model, steady_time now,
                 steady_duration wait);

  /// The account's own anthropic-ratelimit-*-remaining headers, read from
  /// a response (negative: not sent): the global buckets of the model's
  /// class go no higher. They catch another client of the account and an
  /// estimate that ran low, before a 429 does.
  void calibrate(const std::string& model, double requests, double input,
                 double output, steady_time now);

  /// When the cooldown of a model's class ends (a past time if none); the
  /// account's own pause included.
  steady_time paused_until(const std::string& model) const;
  /// When the account-wide pause ends (a past time if none).
  steady_time account_paused_until() const { return account_paused_until_; }

  size_t waiting() const;

  /// True when no meter anywhere has a limit: every ask is granted at once.
  bool unlimited() const;

  /// A worker's moving average of output tokens per run (0: none yet).
  double avg_output(const std::string& worker) const;

private:
  meter_ref global_ref(const std::string& model) const;
  meter_ref worker_ref(const std::string& worker) const;

  std::shared_ptr<meter_store> store_;
  rate_limits global_limits_;
  std::map<std::string, rate_limits> worker_limits_;
  std::deque<permit_ask> queue_[3]; // by priority
  /// The asks the last grant() passed over because one ahead of them
  /// blocked their class or worker (a deque's elements stay put when
  /// others are added at its end; grant() alone removes any).
  std::set<const permit_ask*> behind_;
  struct averages {
    double input = 0, output = 0, requests = 0;
    bool known = false;
    void add(double r, double i, double o);
  };
  struct worker_runs {
    averages cold, warm;
    steady_time warm_until{}; // the prompt cache's end, from the last run
  };
  /// What a permit was asked or granted as, until it is settled.
  struct grant_info {
    bool cold = true;
    bool granted = false;
    uint64_t epoch = 0; // cooldowns of its model class before its grant
  };
  /// Per model class: what the last cooldowns' emptying took from each
  /// global bucket, for the runs granted before them (`runs` still out).
  struct cooldown_credit {
    double requests = 0, input = 0, output = 0;
    size_t runs = 0;
  };
  bool is_cold(const std::string& worker, steady_time now) const;
  grant_info& book(const permit_ask& a, steady_time now);

  std::map<std::string, worker_runs> runs_;
  std::map<uint64_t, grant_info> book_;
  std::map<std::string, uint64_t> epochs_;          // by model class
  std::map<std::string, size_t> outstanding_;       // granted, by model class
  std::map<std::string, cooldown_credit> credit_;   // by model class
  std::map<std::string, steady_time> paused_until_; // by model class
  steady_time account_paused_until_{};
};

} // namespace troupe

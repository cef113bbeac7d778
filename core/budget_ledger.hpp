#pragma once

// What each task attempt has spent through the gateway, request by
// request, against the budget its tag carries: a request that would take
// the attempt past its budget is refused before it goes upstream, so a run
// overshoots by at most the responses in flight when it crossed (one, for a
// CLI that waits for each answer). Pure: time is passed in, and the gateway
// guards it with its own lock.

#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "core/api_exchange.hpp" // task_tag
#include "core/token_bucket.hpp" // steady_time

namespace troupe {

class budget_ledger {
public:
  /// Admits a request of the tagged attempt, expected to cost `expected`:
  /// reserved until settle(). The refusal's reason (for the CLI) when the
  /// attempt's spending and its requests in flight, with this one, would
  /// pass its budget. A tag without a budget is always admitted.
  std::optional<std::string> admit(const task_tag& tag, double expected,
                                   steady_time now);
  /// An admitted request is over: what it cost replaces what was expected.
  void settle(const task_tag& tag, double expected, double cost);

  /// What the attempt has spent so far (0 if unknown).
  double spent(const task_tag& tag) const;
  size_t size() const { return attempts_.size(); }

private:
  using key = std::tuple<std::string, std::string, int>;
  struct account {
    double spent = 0, in_flight = 0;
    int requests = 0;
    steady_time last{};
  };
  static key key_of(const task_tag& t) {
    return {t.worker, t.task_id, t.attempt};
  }
  void prune(steady_time now);

  std::map<key, account> attempts_;
  steady_time next_prune_{};
};

} // namespace troupe

#include "core/budget_ledger.hpp"
#include "core/text.hpp"

#include <algorithm>

namespace troupe {

namespace {

// An attempt nobody has sent for this long has ended: its account goes.
// (A CLI waits at most its API timeout, 10 minutes, between requests.)
constexpr std::chrono::hours forget_after{1};

} // namespace

std::optional<std::string> budget_ledger::admit(const task_tag& tag,
                                                double expected,
                                                steady_time now) {
  if (!tag.budget_usd)
    return std::nullopt;
  prune(now);
  auto& a = attempts_[key_of(tag)];
  a.last = now;
  auto budget = *tag.budget_usd;
  if (a.spent + a.in_flight + expected > budget) {
    std::string why = std::string{gateway_budget_error} + ": task " + tag.task_id
                      + " (attempt " + std::to_string(tag.attempt) + ") has spent "
                      + usd_text(a.spent) + " of its " + usd_text(budget) + " budget in "
                      + std::to_string(a.requests) + " requests";
    if (a.in_flight > 0)
      why += ", " + usd_text(a.in_flight) + " more in flight";
    return why + "; this request would cost about " + usd_text(expected);
  }
  a.in_flight += expected;
  return std::nullopt;
}

void budget_ledger::settle(const task_tag& tag, double expected, double cost) {
  if (!tag.budget_usd)
    return;
  auto i = attempts_.find(key_of(tag));
  if (i == attempts_.end())
    return;
  auto& a = i->second;
  a.in_flight = std::max(0.0, a.in_flight - expected);
  a.spent += cost;
  ++a.requests;
}

double budget_ledger::spent(const task_tag& tag) const {
  auto i = attempts_.find(key_of(tag));
  return i == attempts_.end() ? 0 : i->second.spent;
}

void budget_ledger::prune(steady_time now) {
  if (now < next_prune_)
    return;
  next_prune_ = now + forget_after / 4;
  for (auto i = attempts_.begin(); i != attempts_.end();)
    if (i->second.in_flight <= 0 && now - i->second.last > forget_after)
      i = attempts_.erase(i);
    else
      ++i;
}

} // namespace troupe

#include "core/run_budget.hpp"
#include "core/text.hpp"

#include <algorithm>

namespace troupe {

namespace {

// Sums of doubles drift: what is left below this is nothing.
constexpr double cent_fraction = 1e-9;

} // namespace

double run_budget::left() const {
  return std::max(0.0, budget_ - spent_ - reserved_);
}

std::variant<double, std::string>
run_budget::reserve(std::optional<double> own_cap, size_t not_started,
                    double least) {
  auto left_now = left();
  if (left_now <= cent_fraction)
    return "not run: the budget of " + usd_text(budget_) + " is spent (" + usd_text(spent_)
           + (reserved_ > cent_fraction
                ? " spent, " + usd_text(reserved_) + " reserved by running tasks)"
                : ")");
  auto share = left_now / static_cast<double>(std::max<size_t>(1, not_started));
  auto cap = own_cap ? std::min(*own_cap, left_now) : share;
  if (least > 0 && cap + cent_fraction < least)
    return "not run: its reservation of " + usd_text(cap) + " (" + usd_text(left_now)
           + " left of the budget of " + usd_text(budget_)
           + ") does not fit: such a task costs at least " + usd_text(least);
  reserved_ += cap;
  return cap;
}

void run_budget::settle(double reserved, double spent) {
  reserved_ = std::max(0.0, reserved_ - reserved);
  spent_ += spent;
}

} // namespace troupe

#pragma once

// A run's budget (workflow budget_usd, run --budget-usd): before a task
// starts its cap is reserved from what is left, and when it settles the
// unspent part of that reservation goes back. Reservations never add up to
// more than the budget, so a run spends more than its budget only by what
// its tasks spend past their own caps (the CLI checks its cap between
// turns: one turn at most for each task that reaches it; behind the
// gateway, one response). Pure.

#include <cstddef>
#include <optional>
#include <string>
#include <variant>

namespace troupe {

class run_budget {
public:
  explicit run_budget(double budget_usd) : budget_(budget_usd) {}

  /// What a task may reserve now: its own cap when it has one, else an
  /// equal share of what is left among the `not_started` tasks (this one
  /// included), never more than is left. A reservation below `least` (what
  /// such a task costs at the least, 0 if unknown) does not fit: the reason
  /// instead, and nothing is reserved.
  std::variant<double, std::string> reserve(std::optional<double> own_cap,
                                            size_t not_started, double least);

  /// A task with reservation `reserved` settled having spent `spent`: the
  /// spending is booked, the reservation returned.
  void settle(double reserved, double spent);

  /// Spending outside any task (the planner, the written answer).
  void book(double spent) { spent_ += spent; }

  double budget() const { return budget_; }
  double spent() const { return spent_; }
  double reserved() const { return reserved_; }
  /// Neither spent nor reserved (0 once overspent).
  double left() const;

private:
  double budget_;
  double spent_ = 0;
  double reserved_ = 0;
};

} // namespace troupe

#include "actors/rate_limiter.hpp"

#include <spdlog/spdlog.h>

#include "caf/all.hpp"
#include "core/clock.hpp"
#include "core/text.hpp"

namespace troupe {

namespace {

using self_ptr = rate_limiter_actor::stateful_pointer<rate_limiter_state>;

/// Wakes the limiter in `d`, unless a wake-up is due by then already.
void wake_in(self_ptr self, caf::timespan d) {
  auto& st = self->state;
  auto at = self->clock().now() + d;
  if (!st.ticks.empty() && *st.ticks.begin() <= at)
    return;
  st.ticks.insert(at);
  self->delayed_send(self, d, tick_atom_v);
}

/// Delivers what can be granted now and sets a wake-up for the rest.
void serve(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (!st.gates.empty() && st.core->account_paused_until() <= now) {
    for (auto& [ask, rp] : st.gates)
      rp.deliver(ask);
    st.gates.clear();
  }
  for (auto& granted : st.core->grant(now)) {
    auto i = st.waiting.find(granted.id);
    if (i != st.waiting.end()) {
      i->second.deliver(granted);
      st.waiting.erase(i);
    }
  }
  auto wait = st.core->next_try(now);
  if (!st.gates.empty()) { // they wait for the account's pause to end
    caf::timespan g = st.core->account_paused_until() - now;
    wait = wait ? std::min(*wait, g) : g;
  }
  if (wait)
    // At least 1 ms: avoids spinning on rounding at the bucket's edge.
    wake_in(self, std::max<caf::timespan>(*wait, std::chrono::milliseconds(1)));
}

/// The day's spend as of `now_ms`: read again once the day has turned.
const day_spend& today(self_ptr self, int64_t now_ms) {
  auto& st = self->state;
  auto day = utc_day(now_ms);
  if (st.today.day != day) {
    st.today = st.cap.root.empty() ? day_spend{day, 0, 0}
                                   : read_day_spend(st.cap.root, day);
    st.cap_told = false;
  }
  return st.today;
}

/// Books what a run cost against the day.
void book_spend(self_ptr self, double usd) {
    auto& st = self->state;
    auto now = st.cap.now_ms();
    auto day = today(self, now).day;
    if (st.cap.root.empty()) {
      st.today.usd += usd;
      ++st.today.runs;
    } else {
      // Read again under the file's lock: another node on this root
      // books its runs there too.
      std::string err;
      st.today = book_day_spend(st.cap.root, day, usd, err);
      if (!err.empty())
        spdlog::warn("the day's spend could not be kept in {}: {}",
                     day_spend_path(st.cap.root, day), err);
    }
    if (!st.cap_told && day_cap_holds_until(st.today, st.cap.usd_per_day, now)) {
      st.cap_told = true;
      spdlog::warn("today's spend {} reached limits.spend_per_day_usd {}: no "
                   "claude run starts until {}",
                   usd_text(st.today.usd), usd_text(st.cap.usd_per_day),
                   rfc3339_of_ms(next_utc_day_ms(now)));
    }
  }

} // namespace

rate_limiter_actor::behavior_type
rate_limiter(self_ptr self, rate_limits global,
             std::map<std::string, rate_limits> per_worker,
             caf::timespan default_cooldown, day_cap_settings cap,
             std::shared_ptr<meter_store> store) {
  self->state.default_cooldown = default_cooldown;
  self->state.cap = std::move(cap);
  self->state.core = std::make_unique<limiter_core>(global, std::move(per_worker),
                                                    self->clock().now(), std::move(store));
  return {
    [=](permit_atom, permit_ask ask) -> caf::result<permit_ask> {
      auto& st = self->state;
      ask.id = st.next_id++;
      if (st.cap.usd_per_day > 0) {
        auto now = st.cap.now_ms();
        if (auto until = day_cap_holds_until(today(self, now), st.cap.usd_per_day, now)) {
          ask.capped_until_ms = *until; // refused: nothing to settle
          return ask;
        }
      }
      if (is_gate(ask)) {
        auto until = st.core->account_paused_until();
        auto now = self->clock().now();
        if (until <= now)
          return ask;
        auto rp = self->make_response_promise<permit_ask>();
        st.gates.emplace_back(std::move(ask), rp);
        // Its own wake-up: a bucket's tick may be set for later.
        wake_in(self, until - now);
        return rp;
      }
      // Estimates: the prompt's size is the floor; what this worker's runs
      // used so far (input, output, turns) is the expectation.
      st.core->estimate(ask, self->clock().now());
      // Nothing to meter and nothing ahead of it: granted at once (still
      // through here, so that a 429's cooldown holds it).
      if (st.core->unlimited() && st.core->waiting() == 0
          && st.core->paused_until(ask.model) <= self->clock().now())
        return ask;
      auto rp = self->make_response_promise<permit_ask>();
      st.waiting.emplace(ask.id, rp);
      st.core->enqueue(std::move(ask));
      serve(self);
      return rp;
    },
    [=](settle_atom, const permit_ask& granted, const run_usage& used) {
      self->state.core->settle(granted, used.requests, used.input_tokens,
                               used.output_tokens, self->clock().now());
      if (used.cost_usd > 0)
        book_spend(self, used.cost_usd);
      if (!self->state.waiting.empty())
        serve(self);
    },
    [=](cooldown_atom, const std::string& model, int64_t wait_ms) {
      auto& st = self->state;
      auto wait = wait_ms > 0 ? caf::timespan{std::chrono::milliseconds(wait_ms)}
                              : st.default_cooldown;
      st.core->cool_down(model, self->clock().now(), wait);
      // Gates already waiting wait for the longer pause too.
      if (!st.waiting.empty() || !st.gates.empty())
        serve(self);
    },
    [=](calibrate_atom, const std::string& model, const run_usage& left) {
      self->state.core->calibrate(model, left.requests, left.input_tokens,
                                  left.output_tokens, self->clock().now());
    },
    [=](tick_atom) {
      // Wake-ups arrive in the order they are due: this is the earliest.
      auto& st = self->state;
      if (!st.ticks.empty())
        st.ticks.erase(st.ticks.begin());
      serve(self);
    },
  };
}

} // namespace troupe

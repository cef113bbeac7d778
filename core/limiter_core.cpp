#include "core/limiter_core.hpp"

#include <algorithm>
#include <set>

namespace troupe {

namespace {

/// Weight of the newest run in the moving averages.
constexpr double average_weight = 0.2;

} // namespace

std::string model_class(const std::string& model) {
  for (const char* c : {"opus", "sonnet", "haiku"})
    if (model.find(c) != std::string::npos)
      return c;
  return model;
}

namespace {

meter_amounts amounts_of(const permit_ask& a) {
  return {a.requests, a.input_tokens, a.output_tokens};
}

} // namespace

limiter_core::limiter_core(rate_limits global,
                           std::map<std::string, rate_limits> per_worker,
                           steady_time, std::shared_ptr<meter_store> store)
  : store_(store ? std::move(store) : std::make_shared<local_meter_store>()),
    global_limits_(global),
    worker_limits_(std::move(per_worker)) {
}

meter_ref limiter_core::global_ref(const std::string& model) const {
  return {"global:" + model_class(model), global_limits_};
}

meter_ref limiter_core::worker_ref(const std::string& worker) const {
  auto i = worker_limits_.find(worker);
  return {"worker:" + worker, i == worker_limits_.end() ? rate_limits{} : i->second};
}

void limiter_core::enqueue(permit_ask a) {
  queue_[static_cast<int>(a.prio)].push_back(std::move(a));
}

std::vector<permit_ask> limiter_core::grant(steady_time now) {
  std::vector<permit_ask> granted;
  std::set<std::string> blocked_workers;
  std::set<std::string> blocked_classes;
  behind_.clear();
  for (auto& q : queue_) {
    for (auto i = q.begin(); i != q.end();) {
      auto cls = model_class(i->model);
      if (blocked_classes.count(cls) || blocked_workers.count(i->worker)) {
        behind_.insert(&*i);
        ++i;
        continue;
      }
      if (paused_until(i->model) > now) {
        blocked_classes.insert(cls);
        ++i;
        continue;
      }
      auto got = store_->reserve(global_ref(i->model), worker_ref(i->worker),
                                 amounts_of(*i), now);
      if (got == reserve_outcome::global_blocked) {
        blocked_classes.insert(cls);
        ++i;
        continue;
      }
      if (got == reserve_outcome::worker_blocked) {
        blocked_workers.insert(i->worker);
        ++i;
        continue;
      }
      auto& b = book(*i, now);
      b.granted = true;
      b.epoch = epochs_[cls];
      ++outstanding_[cls];
      granted.push_back(std::move(*i));
      i = q.erase(i);
    }
  }
  return granted;
}

std::optional<steady_duration> limiter_core::next_try(steady_time now) {
  std::optional<steady_duration> best;
  for (auto& q : queue_)
    for (auto& a : q) {
      // Behind another ask of its class or worker: its turn comes when
      // that one is granted (and grant() goes on to it in the same pass),
      // whatever its own size; counting it would wake us for nothing.
      if (behind_.count(&a))
        continue;
      auto d = store_->time_until(global_ref(a.model), worker_ref(a.worker),
                                  amounts_of(a), now);
      if (auto p = paused_until(a.model); p > now)
        d = std::max<steady_duration>(d, p - now);
      if (!best || d < *best)
        best = d;
    }
  return best;
}

bool limiter_core::is_cold(const std::string& worker, steady_time now) const {
  auto i = runs_.find(worker);
  return i == runs_.end() || i->second.warm_until <= now;
}

limiter_core::grant_info& limiter_core::book(const permit_ask& a,
                                             steady_time now) {
  auto [i, fresh] = book_.try_emplace(a.id);
  if (fresh) // asked without estimate(): decided now
    i->second = {is_cold(a.worker, now), false, epochs_[model_class(a.model)]};
  return i->second;
}

void limiter_core::averages::add(double r, double i, double o) {
  if (!known) {
    *this = {i, o, r, true};
    return;
  }
  input += average_weight * (i - input);
  output += average_weight * (o - output);
  requests += average_weight * (r - requests);
}

void limiter_core::settle(const permit_ask& granted, double requests,
                          double input_tokens, double output_tokens,
                          steady_time now) {
  auto info = book(granted, now);
  book_.erase(granted.id);
  auto cls = model_class(granted.model);
  if (info.granted && outstanding_[cls] > 0)
    --outstanding_[cls];
  double r = requests, in = input_tokens, out = output_tokens;
  if (auto c = credit_.find(cls);
      c != credit_.end() && info.granted && info.epoch < epochs_[cls]) {
    // Granted before a cooldown whose emptying took part of its overrun
    // already: that part is not taken again.
    auto credit = [](double& credit, double reserved, double& used) {
      auto over = used - reserved;
      if (over <= 0)
        return;
      auto x = std::min(credit, over);
      credit -= x;
      used -= x;
    };
    credit(c->second.requests, granted.requests, r);
    credit(c->second.input, granted.input_tokens, in);
    credit(c->second.output, granted.output_tokens, out);
    if (c->second.runs <= 1)
      credit_.erase(c); // the last of them: what is left explained nothing
    else
      --c->second.runs;
  }
  store_->settle(global_ref(granted.model), amounts_of(granted), {r, in, out}, now);
  store_->settle(worker_ref(granted.worker), amounts_of(granted),
                 {requests, input_tokens, output_tokens}, now);
  if (granted.exact || (input_tokens <= 0 && output_tokens <= 0))
    return; // one request, or a run that never reached the API
  auto& w = runs_[granted.worker];
  (info.cold ? w.cold : w.warm).add(requests, input_tokens, output_tokens);
  w.warm_until = std::max(w.warm_until, now + prompt_cache_ttl);
}

void limiter_core::cool_down(const std::string& model, steady_time now,
                             steady_duration wait) {
  if (model == every_model) {
    account_paused_until_ = std::max(account_paused_until_, now + wait);
    return;
  }
  auto cls = model_class(model);
  auto& until = paused_until_[cls];
  until = std::max(until, now + wait);
  ++epochs_[cls];
  // Emptied now, as the API's own buckets are: what accrues during the
  // wait is what the API will also have when the wait is over. What the
  // emptying takes is what runs out now used beyond their estimates.
  auto& c = credit_[cls];
  c.runs = outstanding_[cls];
  auto taken = store_->empty(global_ref(model), now);
  c.requests += taken.requests;
  c.input += taken.input;
  c.output += taken.output;
  if (c.runs == 0)
    credit_.erase(cls); // nothing of ours out: another client's traffic
}

void limiter_core::calibrate(const std::string& model, double requests,
                             double input, double output, steady_time now) {
  store_->cap(global_ref(model), {requests, input, output}, now);
}

steady_time limiter_core::paused_until(const std::string& model) const {
  auto p = paused_until_.find(model_class(model));
  auto own = p == paused_until_.end() ? steady_time{} : p->second;
  return std::max(own, account_paused_until_);
}

size_t limiter_core::waiting() const {
  return queue_[0].size() + queue_[1].size() + queue_[2].size();
}

bool limiter_core::unlimited() const {
  if (!global_limits_.unlimited())
    return false;
  for (auto& [name, l] : worker_limits_)
    if (!l.unlimited())
      return false;
  return true;
}

void limiter_core::estimate(permit_ask& a, steady_time now) {
  auto cold = is_cold(a.worker, now);
  book_[a.id] = {cold, false, epochs_[model_class(a.model)]};
  if (a.exact)
    return;
  if (!cold) // the cache serves the prefix: only the rest is metered
    a.input_tokens = std::max(0.0, a.input_tokens - a.prefix_tokens);
  auto i = runs_.find(a.worker);
  if (i == runs_.end())
    return;
  auto& w = i->second;
  // No warm run seen yet: a cold one's figures, which are never less.
  auto* avg = cold || !w.warm.known ? &w.cold : &w.warm;
  if (!avg->known)
    avg = &w.warm;
  if (!avg->known)
    return;
  a.input_tokens = std::max(a.input_tokens, avg->input);
  a.output_tokens = std::max(a.output_tokens, avg->output);
  a.requests = std::max(a.requests, avg->requests);
}

double limiter_core::avg_output(const std::string& worker) const {
  auto i = runs_.find(worker);
  if (i == runs_.end())
    return 0;
  auto& w = i->second;
  return w.warm.known ? w.warm.output : w.cold.output;
}

} // namespace troupe

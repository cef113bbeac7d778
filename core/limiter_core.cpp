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

void limiter_core::meters::refill(steady_time now) {
  requests.refill(now);
  input.refill(now);
  output.refill(now);
}

bool limiter_core::meters::can_take(const permit_ask& a) const {
  return requests.can_take(a.requests) && input.can_take(a.input_tokens)
         && output.can_take(a.output_tokens);
}

void limiter_core::meters::reserve(const permit_ask& a) {
  requests.reserve(a.requests);
  input.reserve(a.input_tokens);
  output.reserve(a.output_tokens);
}

void limiter_core::meters::settle(const permit_ask& a, double r, double i,
                                  double o) {
  requests.settle(a.requests, r);
  input.settle(a.input_tokens, i);
  output.settle(a.output_tokens, o);
}

steady_duration limiter_core::meters::time_until(const permit_ask& a) const {
  return std::max({requests.time_until(a.requests),
                   input.time_until(a.input_tokens),
                   output.time_until(a.output_tokens)});
}

limiter_core::limiter_core(rate_limits global,
                           std::map<std::string, rate_limits> per_worker,
                           steady_time)
  : global_limits_(global), worker_limits_(std::move(per_worker)) {
}

limiter_core::meters& limiter_core::global_for(const std::string& model,
                                               steady_time now) {
  auto cls = model_class(model);
  auto i = global_.find(cls);
  if (i == global_.end())
    i = global_.emplace(cls, meters{global_limits_, now}).first;
  i->second.refill(now);
  return i->second;
}

limiter_core::meters& limiter_core::worker_for(const std::string& worker,
                                               steady_time now) {
  auto i = workers_.find(worker);
  if (i == workers_.end()) {
    auto l = worker_limits_.count(worker) ? worker_limits_[worker]
                                          : rate_limits{};
    i = workers_.emplace(worker, meters{l, now}).first;
  }
  i->second.refill(now);
  return i->second;
}

void limiter_core::enqueue(permit_ask a) {
  queue_[static_cast<int>(a.prio)].push_back(std::move(a));
}

std::vector<permit_ask> limiter_core::grant(steady_time now) {
  std::vector<permit_ask> granted;
  std::set<std::string> blocked_workers;
  std::set<std::string> blocked_classes;
  for (auto& q : queue_) {
    for (auto i = q.begin(); i != q.end();) {
      auto cls = model_class(i->model);
      if (blocked_classes.count(cls) || blocked_workers.count(i->worker)) {
        ++i;
        continue;
      }
      if (auto p = paused_until_.find(cls);
          p != paused_until_.end() && p->second > now) {
        blocked_classes.insert(cls);
        ++i;
        continue;
      }
      auto& g = global_for(i->model, now);
      auto& w = worker_for(i->worker, now);
      if (!g.can_take(*i)) {
        blocked_classes.insert(cls);
        ++i;
        continue;
      }
      if (!w.can_take(*i)) {
        blocked_workers.insert(i->worker);
        ++i;
        continue;
      }
      g.reserve(*i);
      w.reserve(*i);
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
      auto& g = global_for(a.model, now);
      auto& w = worker_for(a.worker, now);
      auto d = std::max(g.time_until(a), w.time_until(a));
      if (auto p = paused_until_.find(model_class(a.model));
          p != paused_until_.end() && p->second > now)
        d = std::max<steady_duration>(d, p->second - now);
      if (!best || d < *best)
        best = d;
    }
  return best;
}

void limiter_core::settle(const permit_ask& granted, double requests,
                          double input_tokens, double output_tokens,
                          steady_time now) {
  global_for(granted.model, now).settle(granted, requests, input_tokens,
                                       output_tokens);
  worker_for(granted.worker, now).settle(granted, requests, input_tokens,
                                         output_tokens);
  if (input_tokens <= 0 && output_tokens <= 0)
    return; // the run never reached the API: nothing learned
  auto& avg = averages_[granted.worker];
  if (!avg.known) {
    avg = {input_tokens, output_tokens, requests, true};
  } else {
    avg.input += average_weight * (input_tokens - avg.input);
    avg.output += average_weight * (output_tokens - avg.output);
    avg.requests += average_weight * (requests - avg.requests);
  }
}

void limiter_core::cool_down(const std::string& model, steady_time now,
                             steady_duration wait) {
  auto& until = paused_until_[model_class(model)];
  until = std::max(until, now + wait);
  // Emptied now, as the API's own buckets are: what accrues during the
  // wait is what the API will also have when the wait is over.
  auto& g = global_for(model, now);
  for (auto* b : {&g.requests, &g.input, &g.output})
    if (b->level() > 0)
      b->take(b->level());
}

steady_time limiter_core::paused_until(const std::string& model) const {
  auto p = paused_until_.find(model_class(model));
  return p == paused_until_.end() ? steady_time{} : p->second;
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

void limiter_core::estimate(permit_ask& a) const {
  auto i = averages_.find(a.worker);
  if (i == averages_.end() || !i->second.known)
    return;
  a.input_tokens = std::max(a.input_tokens, i->second.input);
  a.output_tokens = std::max(a.output_tokens, i->second.output);
  a.requests = std::max(a.requests, i->second.requests);
}

double limiter_core::avg_output(const std::string& worker) const {
  auto i = averages_.find(worker);
  return i == averages_.end() ? 0 : i->second.output;
}

} // namespace troupe

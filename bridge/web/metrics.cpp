#include "bridge/web/metrics.hpp"

#include <map>
#include <mutex>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace troupe {

namespace pm = prometheus;

struct web_metrics::impl {
  std::mutex mx; // gauges are set at a scrape; counters by other threads
  pm::Registry reg;
  // A family's Add() hashes its labels each time: the children counted on
  // the hot path are kept by a key of their labels.
  std::map<std::string, pm::Counter*> counters;
  std::map<std::string, pm::Histogram*> histograms;
  pm::Counter& counter(pm::Family<pm::Counter>& f, const std::string& key,
                       const std::map<std::string, std::string>& labels) {
    auto [i, fresh] = counters.try_emplace(f.GetName() + '\n' + key, nullptr);
    if (fresh)
      i->second = &f.Add(labels);
    return *i->second;
  }
  pm::Family<pm::Counter>& tasks = pm::BuildCounter()
                                     .Name("troupe_tasks_total")
                                     .Help("Tasks that ended, by worker and status")
                                     .Register(reg);
  pm::Family<pm::Histogram>& duration = pm::BuildHistogram()
                                          .Name("troupe_task_duration_seconds")
                                          .Help("How long a task's last attempt ran, by worker")
                                          .Register(reg);
  pm::Family<pm::Counter>& tokens = pm::BuildCounter()
                                      .Name("troupe_tokens_total")
                                      .Help("Tokens the tasks used, by worker, model and kind "
                                            "(input, output, cache_creation, cache_read)")
                                      .Register(reg);
  pm::Family<pm::Counter>& cost = pm::BuildCounter()
                                    .Name("troupe_cost_usd_total")
                                    .Help("What the tasks cost, by worker and model (USD)")
                                    .Register(reg);
  pm::Family<pm::Counter>& retries = pm::BuildCounter()
                                       .Name("troupe_api_retries_total")
                                       .Help("API refusals retried (429s waited out at the "
                                             "gateway, the CLI's own retries), by worker")
                                       .Register(reg);
  pm::Family<pm::Counter>& events = pm::BuildCounter()
                                      .Name("troupe_events_total")
                                      .Help("Events published, by kind")
                                      .Register(reg);
  pm::Family<pm::Gauge>& queue = pm::BuildGauge()
                                   .Name("troupe_queue_tasks")
                                   .Help("Tasks in the folders now, by worker and state (queued, "
                                         "waiting, claimed, running, awaiting_approval)")
                                   .Register(reg);
  pm::Family<pm::Gauge>& parked = pm::BuildGauge()
                                    .Name("troupe_worker_parked")
                                    .Help("1 while the worker is parked")
                                    .Register(reg);
  pm::Family<pm::Gauge>& spend = pm::BuildGauge()
                                   .Name("troupe_spend_today_usd")
                                   .Help("The claude runs' cost today (UTC), as the day's ledger has it")
                                   .Register(reg);
  pm::Family<pm::Gauge>& cap = pm::BuildGauge()
                                 .Name("troupe_spend_cap_usd")
                                 .Help("limits.spend_per_day_usd (absent: no cap)")
                                 .Register(reg);
};

web_metrics::web_metrics() : p_(std::make_unique<impl>()) {}
web_metrics::~web_metrics() = default;

void web_metrics::observe(const task_observation& t) {
  std::lock_guard<std::mutex> g{p_->mx};
  auto& p = *p_;
  p.counter(p.tasks, t.worker + '\n' + t.status, {{"worker", t.worker}, {"status", t.status}})
    .Increment();
  // From a second to the deadline's order: agent runs, not requests.
  static const pm::Histogram::BucketBoundaries bounds{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800};
  auto [h, fresh] = p.histograms.try_emplace(t.worker, nullptr);
  if (fresh)
    h->second = &p.duration.Add({{"worker", t.worker}}, bounds);
  h->second->Observe(t.duration_s);
  auto model = t.model.empty() ? std::string{"none"} : t.model;
  auto add = [&](const char* kind, int64_t n) {
    if (n > 0)
      p.counter(p.tokens, t.worker + '\n' + model + '\n' + kind,
                {{"worker", t.worker}, {"model", model}, {"kind", kind}})
        .Increment(static_cast<double>(n));
  };
  add("input", t.input_tokens);
  add("output", t.output_tokens);
  add("cache_creation", t.cache_creation_tokens);
  add("cache_read", t.cache_read_tokens);
  if (t.cost_usd > 0)
    p.counter(p.cost, t.worker + '\n' + model, {{"worker", t.worker}, {"model", model}})
      .Increment(t.cost_usd);
}

void web_metrics::event(const std::string& kind, const std::string& worker) {
  std::lock_guard<std::mutex> g{p_->mx};
  p_->counter(p_->events, kind, {{"kind", kind}}).Increment();
  if (kind == "api_retry")
    p_->counter(p_->retries, worker, {{"worker", worker}}).Increment();
}

std::string web_metrics::scrape(const json& status) {
  std::lock_guard<std::mutex> g{p_->mx};
  if (auto ws = status.find("workers"); ws != status.end() && ws->is_object())
    for (auto& [w, s] : ws->items()) {
      for (auto state : {"queued", "waiting", "claimed", "running"})
        if (auto v = s.find(state); v != s.end() && v->is_number())
          p_->queue.Add({{"worker", w}, {"state", state}}).Set(v->get<double>());
      if (auto a = s.find("awaiting_approval"); a != s.end() && a->is_array())
        p_->queue.Add({{"worker", w}, {"state", "awaiting_approval"}})
          .Set(static_cast<double>(a->size()));
      auto pk = s.find("parked");
      p_->parked.Add({{"worker", w}}).Set(pk != s.end() && !pk->is_null() ? 1 : 0);
    }
  if (auto sp = status.find("spend_today"); sp != status.end() && sp->is_object()) {
    if (auto u = sp->find("usd"); u != sp->end() && u->is_number())
      p_->spend.Add({}).Set(u->get<double>());
    if (auto c = sp->find("cap_usd"); c != sp->end() && c->is_number())
      p_->cap.Add({}).Set(c->get<double>());
  }
  return pm::TextSerializer{}.Serialize(p_->reg.Collect());
}

} // namespace troupe

#include "bridge/zmq/broker.hpp"

#include <mutex>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <unordered_map>

#include <pthread.h>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "bridge/zmq/curve.hpp"
#include "bridge/zmq/detail/inline_unit.hpp"
#include "bridge/zmq/dispatcher.hpp"
#include "bridge/zmq/frames.hpp"
#include "bridge/zmq/json_scan.hpp"
#include "bridge/zmq/producer_desk.hpp"
#include "bridge/zmq/remote_workers.hpp"
#include "bridge/zmq/wire.hpp"
#include "bridge/zmq/worker_desk.hpp"
#include "caf/all.hpp"
#include "core/clock.hpp"
#include "core/handoff.hpp"
#include "core/json_text.hpp"
#include "core/outcome.hpp"

namespace troupe {

using clock_type = std::chrono::steady_clock;

namespace {

using envelope = producer_desk::envelope;

} // namespace

struct broker::impl {
  broker_settings cfg;
  /// serving_slots()'s answers, refreshed by the loop after each pass.
  mutable std::mutex serving_m;
  std::map<std::string, size_t> serving;
  zmq::context_t ctx{1};
  std::unique_ptr<zmqx::zap_handler> zap;
  zmq::socket_t workers{ctx, zmq::socket_type::router};
  zmq::socket_t producers{ctx, zmq::socket_type::router};
  zmq::socket_t events{ctx, zmq::socket_type::pub};
  zmqx::inbox<broker_note> notes;
  int stop_fd = zmqx::make_eventfd();
  std::thread thread;
  broker_links links;
  producer_desk pdesk;

  worker_desk wdesk;
  std::vector<ticketed_result> delivered; // until flush_delivered()
  std::unordered_map<uint64_t, reply_address> replies; // ticket -> asker
  /// Fewer results than this in a pass are decoded here: a lone result (the
  /// round trip) takes no hop through another thread.
  static constexpr size_t decode_here = 8;
  /// An idle asker answered here runs on this thread after the pass (see
  /// inline_unit): it sends its next task without a thread hand-off. A few
  /// messages only, and what it wakes is CAF's: askers may write files.
  std::unique_ptr<inline_unit> unit;

  void flush_acks() {
    for (auto& [id, tickets] : wdesk.take_acks())
      to_node(id, wire::command::ack, {{"tickets", tickets}});
  }

  explicit impl(broker_settings s)
    : cfg(std::move(s)),
      pdesk({cfg.root, cfg.workers, cfg.limits, cfg.max_task_bytes,
             cfg.spend_per_day_usd, cfg.synthesizes}),
      wdesk({cfg.workers, cfg.root, cfg.handoff_max_bytes}) {
    if (cfg.curve) {
      zap = std::make_unique<zmqx::zap_handler>(ctx, cfg.curve->allowed);
      for (auto* s : {&workers, &producers, &events})
        zmqx::make_server(*s, *cfg.curve);
    }
    for (auto* s : {&workers, &producers, &events})
      s->set(zmq::sockopt::linger, 0);
    // A peer cannot make us buffer more than this in one message (a
    // workflow of thousands of tasks fits; a runaway peer is cut off).
    for (auto* s : {&workers, &producers})
      s->set(zmq::sockopt::maxmsgsize, wire::max_message_bytes);
    // Results and reports must not be dropped for a slow producer.
    producers.set(zmq::sockopt::sndhwm, 0);
    workers.set(zmq::sockopt::sndhwm, 0);
    bind(workers, cfg.workers_endpoint, "workers");
    bind(producers, cfg.producers_endpoint, "producers");
    bind(events, cfg.events_endpoint, "events");
  }

  ~impl() {
    // The ZAP thread waits in recv until the context shuts down.
    workers.close();
    producers.close();
    events.close();
    ctx.shutdown();
    zap.reset();
    zmqx::close_fd(stop_fd);
  }

  static void bind(zmq::socket_t& s, const std::string& ep, const char* what) {
    try {
      s.bind(ep);
    } catch (const zmq::error_t& e) {
      throw std::runtime_error(std::string{"cannot bind the "} + what
                               + " endpoint " + ep + ": " + e.what());
    }
  }

  // -- sending ---------------------------------------------------------------

  void to_node(const std::string& id, wire::command cmd, const json& body) {
    to_node(id, wire::encode(cmd, body));
  }

  void to_node(const std::string& id, std::vector<std::string> frames) {
    frames.insert(frames.begin(), id);
    zmqx::send_frames(workers, frames);
  }

  void to_producer(const envelope& env, wire::command cmd, const json& body) {
    auto frames = env;
    auto msg = wire::encode(cmd, body);
    frames.insert(frames.end(), msg.begin(), msg.end());
    zmqx::send_frames(producers, frames);
  }

  void publish(const std::string& topic, json body) {
    body["ts"] = rfc3339_now();
    zmqx::send_frames(events, {topic, body.dump()});
  }

  /// Results are answered at the end of the loop's pass: a few here, many
  /// spread over the decoder actors (decoding is the work then).
  void deliver(uint64_t ticket, result r, std::string text = {}) {
    auto i = replies.find(ticket);
    if (i == replies.end())
      return;
    delivered.push_back({std::move(i->second), std::move(r), std::move(text)});
    replies.erase(i);
  }

  void flush_delivered() {
    auto texts = std::count_if(delivered.begin(), delivered.end(),
                               [](auto& x) { return !x.text.empty(); });
    if (static_cast<size_t>(texts) < decode_here || links.decoders.empty()) {
      for (auto& x : delivered)
        answer(x, unit.get());
    } else {
      auto n = links.decoders.size();
      auto per = (delivered.size() + n - 1) / n;
      for (size_t i = 0, d = 0; i < delivered.size(); i += per, ++d)
        caf::anon_send(links.decoders[d], done_atom_v,
                       std::vector<ticketed_result>(
                         std::make_move_iterator(delivered.begin() + i),
                         std::make_move_iterator(
                           delivered.begin() + std::min(delivered.size(), i + per))));
    }
    delivered.clear();
  }

  /// The tasks the desk released in this pass: a node that takes batches
  /// gets one TASKS for all of its tasks.
  void flush_tasks() {
    std::map<std::string, wire::batch> batches; // per node that takes TASKS
    for (auto& t : wdesk.take_tasks()) {
      if (!t.batching) {
        to_node(t.node, {wire::protocol_id, wire::name(wire::command::task), std::move(t.entry)});
        continue;
      }
      auto& b = batches.try_emplace(t.node, wire::name(wire::command::task),
                                    wire::name(wire::command::tasks), "tasks")
                  .first->second;
      if (b.add_text(t.entry))
        to_node(t.node, b.take());
    }
    for (auto& [node, b] : batches)
      if (!b.empty())
        to_node(node, b.take());
  }

  // -- worker endpoint -------------------------------------------------------

  /// Carries out what the worker desk decided: frames to nodes, events,
  /// results to answer, messages for the limiter and the recorder.
  void apply() {
    auto& fx = wdesk.pending();
    for (auto& m : fx.messages)
      to_node(m.node, m.cmd, m.body);
    for (auto& d : fx.deliveries)
      deliver(d.ticket, std::move(d.r), std::move(d.text));
    for (auto& e : fx.published_events)
      zmqx::send_frames(events, {e.topic, e.body.dump()});
    for (auto& e : fx.task_events)
      caf::anon_send(links.recorder, event_atom_v,
                     task_event{{}, e.kind, e.task_id, e.worker, e.detail});
    for (auto& a : fx.permit_asks)
      caf::anon_send(links.relay, permit_atom_v, a.node, a.id, std::move(a.ask));
    for (auto& st : fx.settles)
      caf::anon_send(links.limiter, settle_atom_v, st.permit,
                     run_usage{st.requests, st.input_tokens, st.output_tokens,
                               st.cost_usd});
    for (auto& c : fx.cooldowns)
      caf::anon_send(links.limiter, cooldown_atom_v, c.model, c.wait_ms);
    for (auto& c : fx.calibrations)
      caf::anon_send(links.limiter, calibrate_atom_v, c.model,
                     run_usage{c.requests, c.input_tokens, c.output_tokens});
    if (links.worker_back)
      for (auto& w : fx.workers_back)
        links.worker_back(w);
    wdesk.clear();
  }

  // -- producer endpoint -----------------------------------------------------

  /// What the nodes add to a producer's STATUS (producer_desk has the rest).
  void add_nodes(json& s) const {
    json nodes = json::array();
    std::map<std::string, int> per_worker;
    for (auto& [id, n] : wdesk.book().nodes()) {
      json x = {{"node", n.name},
                {"worker", n.worker},
                {"slots", n.slots},
                {"busy", n.running.size() + n.foreign.size()},
                {"draining", n.draining}};
      if (!n.parked.empty())
        x["parked"] = n.parked;
      nodes.push_back(std::move(x));
      ++per_worker[n.worker];
    }
    for (auto& w : cfg.workers) {
      s["workers"][w]["nodes"] = per_worker[w];
      s["workers"][w]["dispatch_queue"] = wdesk.book().queued(w);
    }
    s["nodes"] = std::move(nodes);
  }

  const producer_desk::nodes_view nodes_view{
    [this](json& s) { add_nodes(s); },
    [this](const std::string& w) { return wdesk.book().serving(w); }};

  void on_producer_message(const envelope& env, const wire::message& m) {
    pdesk.on_message(env, m, clock_type::now(), nodes_view);
    send_answers();
  }

  void send_answers() {
    for (auto& a : pdesk.take())
      to_producer(a.to, a.cmd, a.body);
    for (auto& s : pdesk.take_syntheses()) {
      if (links.synthesize) {
        links.synthesize(std::move(s));
        continue;
      }
      pdesk.synthesized(s.run_id, std::nullopt, "no orchestrator LLM here", 0);
      for (auto& a : pdesk.take())
        to_producer(a.to, a.cmd, a.body);
    }
  }

  // -- the loop --------------------------------------------------------------

  /// Runs one message's handler. The decoders check every field, so this
  /// is the last line only: whatever a peer's message still makes throw
  /// (a bug of ours) is logged and answered ERROR, and the loop goes on
  /// for everyone else.
  template <class Handle, class Answer>
  static void guarded(const char* where, Handle&& handle, Answer&& answer) {
    try {
      handle();
    } catch (const std::exception& e) {
      spdlog::error("{}: a message failed: {}", where, e.what());
      try {
        answer(std::string{"internal error: "} + e.what());
      } catch (const std::exception& again) {
        spdlog::error("{}: the ERROR could not be sent: {}", where, again.what());
      }
    }
  }

  void on_worker_frames(const std::vector<std::string>& frames) {
    auto& id = frames.front();
    if (frames.size() == 4 && frames[1] == wire::protocol_id
        && (frames[2] == wire::name(wire::command::result)
            || frames[2] == wire::name(wire::command::results))) {
      wdesk.on_results(id, frames[2], frames[3], clock_type::now());
      apply();
      return;
    }
    std::string err;
    auto m = wire::decode({frames.begin() + 1, frames.end()}, err);
    if (!m) {
      // PROTOCOL.md §2: answered, and nothing else changes.
      spdlog::warn("worker endpoint: {}", err);
      to_node(id, wire::command::error, {{"reason", err}});
      return;
    }
    wdesk.on_message(id, *m, clock_type::now());
    apply();
  }

  void handle_note(broker_note& n) {
    if (auto* d = std::get_if<broker_note::dispatch>(&n.v)) {
      replies.emplace(d->ticket, std::move(d->reply));
      wdesk.submit(d->ticket, std::move(d->t), std::move(d->wire));
      apply();
    } else if (std::holds_alternative<broker_note::stop>(n.v)) {
      wdesk.stop();
      apply();
    } else if (auto* c = std::get_if<broker_note::cancel>(&n.v)) {
      wdesk.cancel(c->task_id);
      apply();
    } else if (auto* g = std::get_if<broker_note::grant>(&n.v)) {
      wdesk.granted(g->node, g->id, g->permit);
      apply();
    } else if (auto* e = std::get_if<broker_note::event>(&n.v)) {
      publish("task." + e->e.kind, {{"kind", e->e.kind},
                                    {"worker", e->e.worker},
                                    {"task_id", e->e.task_id},
                                    {"detail", e->e.detail}});
    } else if (auto* w = std::get_if<broker_note::written>(&n.v)) {
      pdesk.result_written(w->r, clock_type::now());
      send_answers();
    } else if (auto* a = std::get_if<broker_note::synthesized>(&n.v)) {
      pdesk.synthesized(a->run_id, a->answer, a->error, a->cost_usd);
      send_answers();
    }
  }

  void publish_serving() {
    std::map<std::string, size_t> now;
    for (auto& [id, n] : wdesk.book().nodes())
      if (!n.draining && n.parked.empty())
        now[n.worker] += static_cast<size_t>(std::max(0, n.slots));
    std::lock_guard<std::mutex> g{serving_m};
    serving.swap(now);
  }

  void loop() {
    unit->bind();
    // Named for top -H, perf and gdb.
    pthread_setname_np(pthread_self(), "troupe-broker");
    auto next_beat = clock_type::now() + cfg.heartbeat;
    auto timeout = cfg.heartbeat * cfg.liveness;
    for (;;) {
      zmq::pollitem_t items[] = {
        {workers.handle(), 0, ZMQ_POLLIN, 0},
        {producers.handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, notes.fd(), ZMQ_POLLIN, 0},
        {nullptr, stop_fd, ZMQ_POLLIN, 0},
      };
      // Rounded up: a deadline less than a millisecond away must not make
      // the loop spin until it passes.
      // Work left from the last pass (tasks a dead node's requeue freed,
      // answers, actors to run) must not wait for the next heartbeat.
      bool more = unit->pending() || wdesk.has_tasks() || !delivered.empty();
      auto wait = more ? std::chrono::milliseconds(0)
                       : std::chrono::ceil<std::chrono::milliseconds>(
                           next_beat - clock_type::now());
      zmq::poll(items, 4, std::max(wait, std::chrono::milliseconds(0)));
      if (items[3].revents)
        break;
      for (int burst = 0; burst < 256; ++burst) {
        auto frames = zmqx::recv_frames(workers);
        if (frames.empty())
          break;
        auto id = frames.front();
        guarded("worker endpoint", [&] { on_worker_frames(frames); },
                [&](const std::string& why) {
                  to_node(id, wire::command::error, {{"reason", why}});
                });
      }
      for (int burst = 0; burst < 256; ++burst) {
        auto frames = zmqx::recv_frames(producers);
        if (frames.empty())
          break;
        envelope env{frames.front()};
        size_t at = 1;
        if (frames.size() > 1 && frames[1].empty()) {
          env.push_back({}); // a REQ peer: answer on the same envelope
          at = 2;
        }
        guarded("producer endpoint",
                [&] {
                  std::string err;
                  auto m = wire::decode({frames.begin() + at, frames.end()}, err);
                  if (!m)
                    to_producer(env, wire::command::error, {{"reason", err}});
                  else
                    on_producer_message(env, *m);
                },
                [&](const std::string& why) {
                  to_producer(env, wire::command::error, {{"reason", why}});
                });
      }
      if (items[2].revents)
        for (auto& n : notes.take())
          handle_note(n);
      flush_tasks();
      flush_delivered();
      // An asker answered here runs now (inline_unit): its next task, most
      // likely, goes out in this pass, not after another turn of the loop.
      for (int round = 0; round < 8 && unit->run(); ++round) {
        for (auto& n : notes.take())
          handle_note(n);
        flush_tasks();
        flush_delivered();
      }
      // After the next tasks: a node woken by an ACK alone would only wake
      // again for the TASK that follows.
      flush_acks();
      if (cfg.publish_serving)
        publish_serving();
      auto now = clock_type::now();
      if (now >= next_beat) {
        wdesk.beat(now, timeout);
        apply();
        next_beat = now + cfg.heartbeat;
      }
    }
    flush_tasks();
    flush_delivered();
    wdesk.goodbye();
    apply();
    unit->release();
  }
};

broker::broker(broker_settings s) : p_(std::make_unique<impl>(std::move(s))) {
}

broker::~broker() {
  stop();
}

void broker::start(broker_links links) {
  p_->links = std::move(links);
  auto& sys = caf::actor_cast<caf::abstract_actor*>(p_->links.relay)->home_system();
  p_->unit = std::make_unique<inline_unit>(sys, inline_unit::limits{4, false, 64});
  p_->thread = std::thread([this] { p_->loop(); });
}

void broker::stop() {
  if (!p_->thread.joinable())
    return;
  zmqx::signal_eventfd(p_->stop_fd);
  p_->thread.join();
  // The links hold actors (and closures over them) that may hold this
  // broker in turn: let go of them, or the actor system waits for ever.
  p_->links = broker_links{};
}

void broker::post(broker_note n) {
  p_->notes.post(std::move(n));
}

std::string broker::workers_endpoint() const {
  return p_->workers.get(zmq::sockopt::last_endpoint);
}

std::string broker::producers_endpoint() const {
  return p_->producers.get(zmq::sockopt::last_endpoint);
}

size_t broker::serving_slots(const std::string& worker) const {
  std::lock_guard<std::mutex> g{p_->serving_m};
  auto i = p_->serving.find(worker);
  return i == p_->serving.end() ? 0 : i->second;
}

std::string broker::events_endpoint() const {
  return p_->events.get(zmq::sockopt::last_endpoint);
}

} // namespace troupe

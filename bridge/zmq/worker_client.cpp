#include "bridge/zmq/worker_client.hpp"
#include "core/outcome.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <pthread.h>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "actors/messages.hpp"
#include "bridge/zmq/detail/callback_actor.hpp"
#include "bridge/zmq/detail/inline_unit.hpp"
#include "bridge/zmq/wire.hpp"
#include "bridge/zmq/curve.hpp"
#include "bridge/zmq/connection_watch.hpp"
#include "bridge/zmq/frames.hpp"
#include "caf/all.hpp"
#include "core/handoff.hpp"
#include "core/json_text.hpp"

namespace troupe {

using clock_type = std::chrono::steady_clock;

struct worker_client::impl {
  worker_client_settings cfg;
  zmq::context_t ctx{1};
  std::unique_ptr<zmq::socket_t> sock;
  std::unique_ptr<zmqx::connection_watch> watch; // of sock: says why it is silent
  std::string said; // the connection problem last logged
  zmqx::inbox<client_note> notes;
  int stop_fd = zmqx::make_eventfd();
  std::thread thread;
  worker_actor worker;
  /// The sender of our tasks: its mailbox is a callback, run on the thread
  /// that answers (the worker's), which posts the result here.
  std::unique_ptr<callback_actor> answers;
  /// The worker actor runs its tasks on this thread when it is idle (see
  /// inline_unit): no thread hand-off between the socket and the worker.
  std::unique_ptr<inline_unit> unit;
  remote_limiter_actor limiter;
  std::atomic<bool> heard{false};

  std::map<uint64_t, std::string> running; // tickets being run here: task ids
  /// Results the orchestrator has not ACKed, as their RESULT entries (with
  /// the files packed when the run ended: a later run may change them).
  std::map<uint64_t, std::string> unacked;
  wire::batch out{wire::name(wire::command::result), wire::name(wire::command::results),
                  "results"}; // until flush_results()
  std::optional<std::string> draining; // DRAIN sent (again on each connection)
  /// The error kind after which the worker parked: said in READY, so that a
  /// reconnection is not given tasks this node will not run.
  std::string parked;
  // drain(): the caller waits for "nothing runs, nothing unacknowledged".
  std::mutex drain_mtx;
  std::condition_variable drain_cv;
  bool drained = false, stop_waiting = false;
  std::chrono::milliseconds backoff{wire::reconnect_first};
  std::mt19937 rng{std::random_device{}()};

  explicit impl(worker_client_settings s) : cfg(std::move(s)) {
    // "a,b,c": orchestrators sharing one queue; the node is served by one
    // at a time and moves to the next whenever it reconnects.
    size_t at = 0;
    for (;;) {
      auto comma = cfg.endpoint.find(',', at);
      auto one = cfg.endpoint.substr(at, comma == std::string::npos ? comma : comma - at);
      if (!one.empty())
        endpoints.push_back(one);
      if (comma == std::string::npos)
        break;
      at = comma + 1;
    }
    if (endpoints.empty())
      endpoints.push_back(cfg.endpoint);
  }
  std::vector<std::string> endpoints;
  size_t current = 0;
  const std::string& endpoint() const { return endpoints[current]; }
  ~impl() {
    watch.reset();
    sock.reset();
    ctx.shutdown();
    zmqx::close_fd(stop_fd);
  }

  /// Sends to a local actor as `from`, with this thread's unit as the
  /// context: an idle receiver runs on this thread (inline_unit).
  template <class Dest, class... Ts>
  void send_here(const Dest& to, caf::strong_actor_ptr from, Ts&&... xs) {
    caf::actor_cast<caf::abstract_actor*>(to)->eq_impl(
      caf::make_message_id(), std::move(from), unit.get(), std::forward<Ts>(xs)...);
  }

  /// Never waits: with no connection up (the orchestrator is away, or
  /// refuses our key) a DEALER would block here and the node could not
  /// stop. What is dropped is sent again: results until ACKed, asks after a
  /// reconnection, READY on each connection.
  void send(wire::command cmd, const json& body) {
    if (sock)
      zmqx::try_send_frames(*sock, wire::encode(cmd, body));
  }

  void connect() {
    sock = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    sock->set(zmq::sockopt::linger, 0);
    sock->set(zmq::sockopt::sndhwm, 0);
    if (cfg.curve)
      zmqx::make_client(*sock, *cfg.curve);
    watch = std::make_unique<zmqx::connection_watch>(ctx, *sock, cfg.curve != nullptr);
    sock->connect(endpoint());
    heard = false;
    wire::ready_body ready;
    ready.worker = cfg.worker;
    ready.slots = cfg.slots;
    ready.node = cfg.node;
    for (auto& [ticket, id] : running)
      ready.running.push_back(ticket);
    ready.batch = true;
    ready.parked = parked;
    send(wire::command::ready, wire::encode(ready));
    for (auto& [t, entry] : unacked)
      add_entry(entry);
    flush_results();
    if (draining)
      send(wire::command::drain, wire::encode(wire::reason_body{*draining}));
    // Permit asks the old connection may have lost go out again.
    send_here(limiter, nullptr, tick_atom_v);
  }

  /// One TASK (or one entry of TASKS): {"ticket", "task"}.
  void take_task(const json& b) {
    auto ticket = wire::id_value(b.value("ticket", json{}));
    problems ps;
    auto t = task_from_json(wire::member(b, "task"), ps);
    if (!ticket)
      return;
    if (!t || t->worker != cfg.worker
        || static_cast<int>(running.size()) >= cfg.slots) {
      task bad;
      bad.task_id = t ? t->task_id : "unknown";
      bad.worker = cfg.worker;
      auto why = !t ? "the task does not decode"
                    : t->worker != cfg.worker ? "this node serves another worker"
                                              : "this node has no free slot";
      add_result(*ticket, make_failure(bad, status::failed, kind::crashed, why));
      return;
    }
    if (running.count(*ticket) || unacked.count(*ticket))
      return; // already ours
    // Only a task this node runs gets its inputs written.
    if (auto in = b.find("inputs"); in != b.end() && !cfg.root.empty())
      for (auto& why : place_inputs(*t, *in, cfg.root))
        spdlog::warn("task {}: an input file was not placed: {}", t->task_id, why);
    running.emplace(*ticket, t->task_id);
    send_here(worker, caf::actor_cast<caf::strong_actor_ptr>(answers->handle()),
              std::move(*t), *ticket);
  }

  /// Results go out at the end of a pass (flush_results): several at once
  /// as one RESULTS.
  void add_result(uint64_t ticket, const result& r) {
    add_entry(entry_of(ticket, r));
  }

  void add_entry(std::string_view entry) {
    if (out.add_text(entry))
      flush_results();
  }

  /// {"result", "ticket"} and, for a complete result that wrote files,
  /// "files" (PROTOCOL.md §10).
  std::string entry_of(uint64_t ticket, const result& r) const {
    std::string text;
    append_json(text, r);
    auto entry = wire::ticketed_entry(ticket, "result", text);
    if (cfg.root.empty() || cfg.handoff_max_bytes == 0 || !r.ok())
      return entry;
    std::vector<std::string> left_out;
    auto files = pack_result_files(r, cfg.root, cfg.handoff_max_bytes, left_out);
    for (auto& f : left_out)
      spdlog::warn("task {}: a file is not handed on: {}", r.task_id, f);
    if (!files.empty())
      entry.insert(entry.size() - 1, ",\"files\":" + files.dump());
    return entry;
  }

  void flush_results() {
    if (out.empty())
      return;
    auto frames = out.take();
    if (sock) // without a connection: unacked results go again on the next
      zmqx::try_send_frames(*sock, frames);
  }

  void on_message(const wire::message& m) {
    auto& b = m.body;
    if (!heard) {
      spdlog::info("connected to the orchestrator at {}", endpoint());
      heard = true;
      backoff = wire::reconnect_first;
      if (cfg.on_connected)
        cfg.on_connected();
    }
    using wire::command;
    std::string err;
    switch (wire::command_of(m.cmd)) {
      case command::task:
      case command::tasks:
        for (auto* e : wire::entries(m, wire::name(command::tasks), "tasks"))
          take_task(*e);
        return;
      case command::ack: {
        wire::ack_body a;
        if (!wire::decode(b, a, err))
          break;
        for (auto t : a.tickets)
          unacked.erase(t);
        return;
      }
      case command::grant: {
        wire::permit_body g;
        if (!wire::decode(b, g, err, "permit"))
          break;
        send_here(limiter, nullptr, permit_atom_v, g.id, std::move(g.ask));
        return;
      }
      case command::disconnect: {
        wire::reason_body r{"disconnect"};
        wire::decode(b, r, err);
        spdlog::warn("the orchestrator says: {}; reconnecting", r.reason);
        reconnect_after(wire::reconnect_on_disconnect);
        return;
      }
      case command::error: {
        wire::reason_body r;
        wire::decode(b, r, err);
        spdlog::warn("the orchestrator says: {}", r.reason);
        return;
      }
      case command::cancel: {
        // The orchestrator cancels a task we run: the worker stops its
        // process group, and its result (cancelled) goes back as usual.
        auto ticket = wire::id_value(wire::member(b, "ticket"));
        if (!ticket) {
          err = "CANCEL: ticket: must be a ticket";
          break;
        }
        if (auto r = running.find(*ticket); r != running.end()) {
          spdlog::info("task {}: cancelled by the orchestrator", r->second);
          send_here(worker, nullptr, cancel_atom_v, r->second);
        }
        return;
      }
      case command::heartbeat:
        return;
      default:
        err = "unknown command \"" + wire::printable(m.cmd) + "\"";
    }
    spdlog::warn("from the orchestrator: {}", err);
  }

  void on_note(client_note& n) {
    if (auto* d = std::get_if<client_note::done>(&n.v)) {
      if (auto& e = d->r.error; e && parked.empty() && parks_worker(e->kind))
        parked = e->kind;
      running.erase(d->ticket);
      auto entry = entry_of(d->ticket, d->r);
      add_entry(entry);
      unacked.emplace(d->ticket, std::move(entry));
    } else if (auto* a = std::get_if<client_note::ask>(&n.v)) {
      send(wire::command::permit, wire::encode(wire::permit_body{a->id, a->a}));
    } else if (auto* s = std::get_if<client_note::settle>(&n.v)) {
      send(wire::command::settle,
           wire::encode(wire::settle_body{s->p, s->used.requests, s->used.input_tokens,
                                          s->used.output_tokens, s->used.cost_usd}));
    } else if (auto* c = std::get_if<client_note::cooldown>(&n.v)) {
      send(wire::command::cooldown, wire::encode(wire::cooldown_body{c->model, c->wait_ms}));
    } else if (auto* k = std::get_if<client_note::calibrate>(&n.v)) {
      send(wire::command::calibrate,
           wire::encode(wire::calibrate_body{k->model, k->requests, k->input_tokens,
                                             k->output_tokens}));
    } else if (auto* d = std::get_if<client_note::drain>(&n.v)) {
      draining = d->reason;
      send(wire::command::drain, wire::encode(wire::reason_body{d->reason}));
      send_here(worker, nullptr, stop_atom_v); // nothing queued here starts
    } else if (auto* e = std::get_if<client_note::event>(&n.v)) {
      send(wire::command::event,
           wire::encode(wire::event_body{e->e.kind, e->e.task_id, e->e.detail}));
    }
  }

  /// What the worker and its helpers posted: results, permit asks, events.
  void take_notes() {
    auto batch = notes.take();
    // A task that started and ended within one batch needs no
    // "running" event: its RESULT says more, one message fewer.
    std::set<std::string> ended;
    for (auto& n : batch)
      if (auto* d = std::get_if<client_note::done>(&n.v))
        ended.insert(d->r.task_id);
    for (auto& n : batch) {
      if (auto* e = std::get_if<client_note::event>(&n.v);
          e && e->e.kind == "running" && ended.count(e->e.task_id))
        continue;
      on_note(n);
    }
  }

  clock_type::time_point reconnect_at = clock_type::time_point::max();

  /// Logs why the orchestrator does not answer (no listener, a refused
  /// key), once per reason: a node that is never admitted says why.
  void report_connection() {
    watch->drain();
    if (watch->ready()) {
      said.clear();
      return;
    }
    auto& why = watch->problem();
    if (!why.empty() && why != said)
      spdlog::warn("cannot reach the orchestrator at {}: {}; retrying", endpoint(),
                   why);
    said = why;
  }

  void reconnect_after(std::chrono::milliseconds d) {
    watch.reset(); // first: it stops the monitor of the socket
    sock.reset();
    if (endpoints.size() > 1) {
      current = (current + 1) % endpoints.size();
      spdlog::info("next: the orchestrator at {}", endpoint());
    }
    reconnect_at = clock_type::now() + d;
  }

  void loop() {
    unit->bind();
    // Named for top -H, perf and gdb.
    pthread_setname_np(pthread_self(), "troupe-client");
    connect();
    auto last_heard = clock_type::now();
    auto next_beat = clock_type::now() + cfg.heartbeat;
    auto timeout = cfg.heartbeat * cfg.liveness;
    for (;;) {
      std::vector<zmq::pollitem_t> items{{nullptr, stop_fd, ZMQ_POLLIN, 0},
                                         {nullptr, notes.fd(), ZMQ_POLLIN, 0}};
      if (sock) {
        items.push_back({sock->handle(), 0, ZMQ_POLLIN, 0});
        items.push_back({watch->socket().handle(), 0, ZMQ_POLLIN, 0});
      }
      auto next = std::min(next_beat, reconnect_at);
      // Rounded up: a deadline less than a millisecond away must not make
      // the loop spin until it passes.
      auto wait = unit->pending()
                    ? std::chrono::milliseconds(0)
                    : std::chrono::ceil<std::chrono::milliseconds>(next - clock_type::now());
      zmq::poll(items.data(), items.size(),
                std::max(wait, std::chrono::milliseconds(0)));
      if (items[0].revents)
        break;
      auto now = clock_type::now();
      if (sock && items.size() > 3 && items[3].revents)
        report_connection();
      if (!sock && now >= reconnect_at) {
        reconnect_at = clock_type::time_point::max();
        connect();
        last_heard = now;
      }
      if (sock && items.size() > 2 && items[2].revents)
        for (int burst = 0; burst < 256 && sock; ++burst) {
          auto frames = zmqx::recv_frames(*sock);
          if (frames.empty())
            break;
          last_heard = clock_type::now();
          std::string err;
          auto m = wire::decode(frames, err);
          if (!m) {
            spdlog::warn("from the orchestrator: {}", err);
            continue;
          }
          on_message(*m);
        }
      // The worker's answers to what ran here are in the inbox already;
      // what the notes wake here in turn (a stop, on a drain) runs now too.
      bool notes_in = items[1].revents;
      for (int round = 0; round < 8 && (unit->run() || notes_in); ++round) {
        take_notes();
        notes_in = false;
      }
      flush_results();
      if (draining && running.empty() && unacked.empty()) {
        std::lock_guard<std::mutex> guard{drain_mtx};
        if (!drained) {
          drained = true;
          drain_cv.notify_all();
        }
      }
      now = clock_type::now();
      if (now >= next_beat) {
        send(wire::command::heartbeat, json::object());
        next_beat = now + cfg.heartbeat;
      }
      if (sock && now - last_heard > timeout) {
        // Exponential backoff with jitter: many nodes must not come back
        // at the same instant.
        std::uniform_real_distribution<double> jitter{0.5, 1.0};
        auto d = std::chrono::milliseconds(
          static_cast<int64_t>(backoff.count() * jitter(rng)));
        spdlog::warn("no word from the orchestrator for {} ms; reconnecting "
                     "in {} ms",
                     timeout.count(), d.count());
        backoff = std::min(backoff * 2, wire::reconnect_max);
        reconnect_after(d);
      }
    }
    if (sock) {
      sock->set(zmq::sockopt::linger, 500); // let the goodbye go out
      flush_results();
      send(wire::command::disconnect, wire::encode(wire::reason_body{"worker node stopping"}));
    }
    watch.reset();
    sock.reset();
    unit->release();
  }
};

worker_client::worker_client(worker_client_settings s)
  : p_(std::make_unique<impl>(std::move(s))) {
}

worker_client::~worker_client() {
  stop();
}

void worker_client::start(caf::actor_system& sys, worker_actor worker,
                          remote_limiter_actor limiter) {
  p_->worker = std::move(worker);
  p_->limiter = std::move(limiter);
  p_->answers = std::make_unique<callback_actor>(sys, [this](caf::mailbox_element& m) {
    // The worker's answer to a task: (result, ticket).
    auto& x = m.content();
    if (x.match_elements<result, uint64_t>())
      post(client_note{client_note::done{x.get_as<uint64_t>(1),
                                         x.move_if_unshared<result>(0)}});
  });
  // The worker takes up to a full TASKS batch per wake-up here; its
  // recorder and limiter (they only post to this thread) run here too.
  p_->unit = std::make_unique<inline_unit>(
    sys, inline_unit::limits{wire::batch::max_entries, true, 64});
  p_->thread = std::thread([this] { p_->loop(); });
}

void worker_client::stop() {
  if (!p_->thread.joinable())
    return;
  zmqx::signal_eventfd(p_->stop_fd);
  p_->thread.join();
  p_->answers.reset(); // answers that still come are dropped
}

bool worker_client::drain(const std::string& reason,
                          std::chrono::milliseconds grace) {
  post(client_note{client_note::drain{reason}});
  std::unique_lock<std::mutex> lock{p_->drain_mtx};
  return p_->drain_cv.wait_for(lock, grace, [this] {
    return p_->drained || p_->stop_waiting;
  }) && p_->drained;
}

void worker_client::stop_waiting() {
  std::lock_guard<std::mutex> guard{p_->drain_mtx};
  p_->stop_waiting = true;
  p_->drain_cv.notify_all();
}

void worker_client::post(client_note n) {
  p_->notes.post(std::move(n));
}

bool worker_client::connected() const {
  return p_->heard;
}

} // namespace troupe

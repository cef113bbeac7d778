#include "bridge/zmq/broker.hpp"

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
#include "caf/all.hpp"
#include "core/clock.hpp"
#include "core/handoff.hpp"
#include "core/json_text.hpp"
#include "core/outcome.hpp"

namespace troupe {

using clock_type = std::chrono::steady_clock;

namespace {

using envelope = producer_desk::envelope;

std::string key(const std::string& worker, const std::string& task_id) {
  return worker + "/" + task_id;
}

} // namespace

struct broker::impl {
  broker_settings cfg;
  zmq::context_t ctx{1};
  std::unique_ptr<zmqx::zap_handler> zap;
  zmq::socket_t workers{ctx, zmq::socket_type::router};
  zmq::socket_t producers{ctx, zmq::socket_type::router};
  zmq::socket_t events{ctx, zmq::socket_type::pub};
  zmqx::inbox<broker_note> notes;
  int stop_fd = zmqx::make_eventfd();
  std::thread thread;
  broker_links links;
  producer_desk desk;

  dispatcher book;
  /// Granted permits not yet settled, per node: settled at their estimate
  /// if the node dies, so their room is not held for ever.
  std::map<std::string, std::map<uint64_t, permit_ask>> permits;
  std::map<std::string, std::vector<std::string>> acks; // node -> tickets
  bool stopping = false; // no task goes out to a node any more
  std::vector<dispatcher::send_task> outgoing; // until flush_tasks()
  std::vector<ticketed_result> delivered; // until flush_delivered()
  std::unordered_map<uint64_t, reply_address> replies; // ticket -> asker
  /// Fewer results than this in a pass are decoded here: a lone result (the
  /// round trip) takes no hop through another thread.
  static constexpr size_t decode_here = 8;
  std::set<std::string> batching; // nodes that take TASKS (READY "batch")
  /// Results of work from before our restart whose task we have not
  /// recovered yet (worker/task_id): the text, and the files it hands on.
  struct orphan {
    std::string text, files;
  };
  static constexpr size_t max_orphans = 4096;
  std::map<std::string, orphan> orphans;
  /// An idle asker answered here runs on this thread after the pass (see
  /// inline_unit): it sends its next task without a thread hand-off. A few
  /// messages only, and what it wakes is CAF's: askers may write files.
  std::unique_ptr<inline_unit> unit;

  void flush_acks() {
    for (auto& [id, tickets] : acks)
      to_node(id, wire::command::ack, {{"tickets", tickets}});
    acks.clear();
  }

  explicit impl(broker_settings s)
    : cfg(std::move(s)),
      desk({cfg.root, cfg.workers, cfg.limits, cfg.max_task_bytes}) {
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

  /// Tasks go out at the end of the loop's pass (flush_tasks), so that a
  /// node that takes batches gets one TASKS for all of its tasks.
  void send_tasks(std::vector<dispatcher::send_task> xs) {
    for (auto& s : xs)
      outgoing.push_back(std::move(s));
  }

  void flush_tasks() {
    std::map<std::string, wire::batch> batches; // per node that takes TASKS
    for (auto& s : outgoing) {
      // A node that left in this pass took its tickets back into the
      // dispatcher's queue (drop()); nothing is lost by skipping it.
      auto n = book.nodes().find(s.node);
      if (n == book.nodes().end() || !n->second.running.count(s.ticket))
        continue;
      std::string encoded;
      if (s.wire->empty())
        append_json(encoded, *s.t);
      auto entry = wire::ticketed_entry(s.ticket, "task",
                                        s.wire->empty() ? encoded : *s.wire);
      add_inputs(*s.t, entry);
      if (!batching.count(s.node)) {
        to_node(s.node, {wire::protocol_id, wire::name(wire::command::task), std::move(entry)});
        continue;
      }
      auto& b = batches.try_emplace(s.node, wire::name(wire::command::task),
                                       wire::name(wire::command::tasks), "tasks").first->second;
      if (b.add_text(entry))
        to_node(s.node, b.take());
    }
    outgoing.clear();
    for (auto& [node, b] : batches)
      if (!b.empty())
        to_node(node, b.take());
  }

  /// Tasks queued for no node, while we stop: answered without a run (a
  /// file drop hands them back to tasks/).
  void answer_queued_stopped() {
    for (auto& [ticket, t] : book.take_queued())
      deliver(ticket, stopped_result(t));
  }

  // -- worker endpoint -------------------------------------------------------

  void node_down(const std::string& id, const std::string& why) {
    std::vector<dispatcher::send_task> next;
    auto n = book.drop(id, next);
    if (!n)
      return;
    spdlog::warn("worker node {} ({}) is gone: {}; {} task(s) requeued",
                 n->name, n->worker, why, n->running.size());
    for (auto& [pid, p] : permits[id]) {
      run_usage used{p.requests, p.input_tokens, p.output_tokens};
      caf::anon_send(links.limiter, settle_atom_v, p, used);
    }
    permits.erase(id);
    batching.erase(id);
    publish("node.down", {{"node", n->name},
                          {"worker", n->worker},
                          {"slots", n->slots},
                          {"requeued", n->running.size()},
                          {"reason", why}});
    send_tasks(std::move(next));
    if (stopping)
      answer_queued_stopped();
  }

  /// A RESULT or RESULTS, read in place in one pass (jscan::cursor): the
  /// broker takes only the ticket and what it checks; the result's text is
  /// decoded whole later (flush_delivered), many at once off this thread.
  void on_results(const std::string& id, const std::string& cmd,
                  std::string_view body) {
    book.seen(id, clock_type::now());
    jscan::cursor c{body};
    if (cmd == wire::name(wire::command::result)) {
      on_result(id, c);
    } else if (c.enter_object()) {
      std::string key;
      while (c.next_member(key))
        if (key == "results" && c.enter_array())
          while (c.next_element())
            on_result(id, c);
        else
          c.skip();
    }
    if (!c.done()) {
      spdlog::warn("worker endpoint: a {} that is not valid JSON was dropped "
                   "(what came before the error stands)", cmd);
      to_node(id, wire::command::error,
              {{"reason", cmd + " body: not valid JSON (entries before the error stand)"}});
    }
  }

  /// What the broker checks in a result, read at the cursor; its text goes
  /// on whole.
  struct result_peek {
    bool object = false;
    std::optional<std::string> task_id, state, kind;
    std::string_view text;
  };

  static result_peek peek_result(jscan::cursor& c) {
    result_peek p;
    auto start = c.at();
    std::string key, ekey;
    if ((p.object = c.enter_object()))
      while (c.next_member(key))
        if (key == "task_id")
          p.task_id = c.string();
        else if (key == "status")
          p.state = c.string();
        else if (key == "error" && c.enter_object())
          while (c.next_member(ekey))
            if (ekey == "kind")
              p.kind = c.string();
            else
              c.skip();
        else
          c.skip();
    else
      c.skip();
    p.text = c.since(start);
    return p;
  }

  /// One RESULT body (or one entry of RESULTS) at the cursor:
  /// {"ticket", "result"}.
  void on_result(const std::string& id, jscan::cursor& c) {
    if (!c.enter_object()) {
      c.skip();
      spdlog::warn("a RESULT that is not a JSON object was dropped");
      return;
    }
    std::optional<uint64_t> ticket;
    result_peek res;
    std::string_view files; // the files a complete result hands on
    std::string key;
    while (c.next_member(key)) {
      if (key == "ticket") {
        if (auto s = c.string())
          ticket = wire::id_value(*s);
      } else if (key == "result") {
        res = peek_result(c);
      } else if (key == "files") {
        auto start = c.at();
        c.skip();
        files = c.since(start);
      } else {
        c.skip();
      }
    }
    if (c.failed())
      return; // on_results says so
    if (!ticket) {
      spdlog::warn("a RESULT without a ticket was dropped");
      return;
    }
    // Acknowledged in any case (one ACK per node and burst, flush_acks):
    // the node may forget it; a duplicate or a ticket from before our
    // restart is dropped here.
    acks[id].push_back(wire::id_text(*ticket));
    auto* t = book.task_of(*ticket);
    std::vector<dispatcher::send_task> next;
    if (!t) {
      on_foreign_result(id, *ticket, res, files);
      return;
    }
    if (res.object && res.task_id && *res.task_id != t->task_id) {
      // PROTOCOL.md §6: a task is never held by a result it cannot read.
      // The attempt fails as crashed (it is retried like one).
      auto why = "the worker node answered ticket " + wire::id_text(*ticket)
                 + " (" + t->task_id + ") with a result for "
                 + wire::printable(*res.task_id);
      spdlog::warn("{}/{}: {}", t->worker, t->task_id, why);
      auto r = make_failure(*t, status::failed, kind::crashed, why);
      if (book.finished(id, *ticket, next))
        deliver(*ticket, std::move(r));
      send_tasks(std::move(next));
      return;
    }
    bool unrun = res.state && res.kind && is_stopped_result(*res.state, *res.kind);
    if (!stopping && res.object && unrun && book.handed_back(id, *ticket, next)) {
      // The node is leaving and did not run it: not a result, another
      // node's turn (PROTOCOL.md §3).
      spdlog::info("worker node {} handed back {} unrun (it is stopping); "
                   "it goes to another node",
                   book.nodes().at(id).name, t->task_id);
      send_tasks(std::move(next));
      return;
    }
    if (!stopping && res.object && res.kind
        && (*res.kind == kind::parked || parks_worker(*res.kind))
        && park_node(id, *ticket, *res.kind, t->task_id))
      return;
    // The job ends here: what decode_result needs if the text does not decode.
    result r;
    r.task_id = t->task_id;
    r.worker = t->worker;
    auto text = res.text;
    if (!res.object) {
      // A node that sends no result object fails its task rather than
      // hold it for ever.
      spdlog::warn("the RESULT for {}/{} has no JSON object \"result\"",
                   t->worker, t->task_id);
      r = make_failure(*t, status::failed, kind::crashed,
                       "the worker node sent no result object");
      text = {};
    }
    if (book.finished(id, *ticket, next)) {
      // Kept before the result is delivered: its dependents are released
      // by it and are sent with these files.
      if (!files.empty() && res.state && *res.state == "complete")
        keep_files(*t, files);
      deliver(*ticket, std::move(r), std::string{text});
    }
    send_tasks(std::move(next));
  }

  /// A result for a ticket no job here has. If the node's READY said it
  /// runs it, that is work from before our restart: its slot is free now,
  /// and the result answers the recovered task of that id (queued here, or
  /// kept until it is). Anything else is a duplicate: acknowledged only.
  void on_foreign_result(const std::string& id, uint64_t ticket,
                         const result_peek& res, std::string_view files) {
    std::vector<dispatcher::send_task> next;
    auto task_id = res.task_id.value_or("");
    auto end = book.finished_foreign(id, ticket, task_id, next);
    send_tasks(std::move(next));
    if (!end.was_foreign || !res.object || task_id.empty()) {
      spdlog::debug("a result for ticket {} (not open here) was dropped", ticket);
      return;
    }
    task t;
    t.task_id = task_id;
    t.worker = book.nodes().at(id).worker;
    bool complete = res.state && *res.state == "complete";
    if (end.job) {
      spdlog::info("{}/{}: answered by its run from before our restart", t.worker,
                   t.task_id);
      if (!files.empty() && complete)
        keep_files(t, files);
      result r;
      r.task_id = t.task_id;
      r.worker = t.worker;
      deliver(*end.job, std::move(r), std::string{res.text});
      return;
    }
    // Its task is not back in our queue yet (the file drop recovers it):
    // kept, a bounded number, for when it is.
    if (orphans.size() >= max_orphans)
      orphans.erase(orphans.begin());
    orphans[key(t.worker, t.task_id)] =
      orphan{std::string{res.text}, complete ? std::string{files} : std::string{}};
  }

  void keep_files(const task& t, std::string_view text) {
    auto files = parse_json_or_discard(text);
    for (auto& why : store_result_files(files, t.worker, t.task_id, cfg.root,
                                        cfg.handoff_max_bytes))
      spdlog::warn("{}/{}: a file was not kept: {}", t.worker, t.task_id, why);
  }

  /// A dependent's TASK entry with its dependencies' kept files.
  void add_inputs(const task& t, std::string& entry) const {
    if (cfg.handoff_max_bytes == 0 || !t.context.is_object()
        || !t.context.contains("dependency_results"))
      return;
    auto inputs = task_inputs(t, cfg.root, cfg.handoff_max_bytes);
    if (!inputs.empty())
      entry.insert(entry.size() - 1, ",\"inputs\":" + inputs.dump());
  }

  /// A node failed in a way that needs a person (its credentials, a spend
  /// limit), or its worker answers `parked`: it gets nothing new. True if
  /// the task went to another node of the same worker; else its answer
  /// stands and the whole worker parks (file drop).
  bool park_node(const std::string& id, uint64_t ticket, const std::string& kind,
                 const std::string& task_id) {
    auto n = book.nodes().find(id);
    if (n == book.nodes().end())
      return false;
    auto name = n->second.name, worker = n->second.worker;
    bool first = n->second.parked.empty();
    std::vector<dispatcher::send_task> next;
    bool moved = book.park(id, ticket, kind, next);
    if (first) {
      spdlog::warn("worker node {} ({}) parked after {}: it gets no more tasks{}", name,
                   worker, kind,
                   moved ? "; the worker's other nodes take them" : "");
      publish("node.parked", {{"node", name}, {"worker", worker}, {"reason", kind}});
    }
    if (!moved)
      return false;
    spdlog::info("{}/{} goes to another node of {} (node {} parked)", worker, task_id,
                 worker, name);
    send_tasks(std::move(next));
    return true;
  }

  void on_worker_message(const std::string& id, const wire::message& m) {
    using wire::command;
    auto now = clock_type::now();
    auto& b = m.body;
    auto cmd = wire::command_of(m.cmd);
    std::string err;
    if (cmd == command::ready) {
      wire::ready_body r;
      if (!wire::decode(b, r, err)) {
        // Not registered: a node that cannot say READY gets no task.
        to_node(id, command::error, {{"reason", err}});
        return;
      }
      if (!cfg.workers.count(r.worker)) {
        to_node(id, command::disconnect,
                {{"reason", "worker \"" + r.worker + "\" is not configured here"}});
        return;
      }
      if (r.batch)
        batching.insert(id);
      else
        batching.erase(id);
      // A node whose worker parked before (it reconnects) takes nothing.
      auto out = book.ready(id, r.node, r.worker, r.slots, r.running, now, r.parked);
      auto& n = book.nodes().at(id);
      spdlog::info("worker node {} ({}, {} slots) is ready{}{}", r.node, r.worker,
                   r.slots,
                   n.foreign.empty() ? ""
                                     : ", still running " + std::to_string(n.foreign.size())
                                         + " task(s) from before our restart",
                   r.parked.empty() ? "" : ", but parked after " + r.parked);
      publish("node.up", {{"node", r.node}, {"worker", r.worker}, {"slots", r.slots}});
      send_tasks(std::move(out));
      if (r.parked.empty() && links.worker_back)
        links.worker_back(r.worker);
      return;
    }
    bool known = book.seen(id, now);
    if (!known) {
      // We restarted, or declared it dead: it must introduce itself again.
      if (cmd != command::disconnect)
        to_node(id, command::disconnect, {{"reason", wire::send_ready_reason}});
      return;
    }
    auto worker = book.nodes().at(id).worker;
    switch (cmd) {
      case command::heartbeat:
        return;
      case command::event: {
        wire::event_body e;
        if (!wire::decode(b, e, err))
          break;
        caf::anon_send(links.recorder, event_atom_v,
                       task_event{{}, e.kind, e.task_id, worker, e.detail});
        return;
      }
      case command::permit: {
        wire::permit_body p;
        if (!wire::decode(b, p, err))
          break;
        p.ask.worker = worker; // a node speaks for its own worker only
        caf::anon_send(links.relay, permit_atom_v, id, p.id, std::move(p.ask));
        return;
      }
      case command::settle: {
        wire::settle_body st;
        if (!wire::decode(b, st, err))
          break;
        permits[id].erase(st.permit.id);
        caf::anon_send(links.limiter, settle_atom_v, st.permit,
                       run_usage{st.requests, st.input_tokens, st.output_tokens});
        return;
      }
      case command::cooldown: {
        wire::cooldown_body c;
        if (!wire::decode(b, c, err))
          break;
        spdlog::warn("a 429 on node {} ({}): {} waits {}", book.nodes().at(id).name,
                     worker, c.model,
                     c.wait_ms > 0 ? std::to_string(c.wait_ms) + " ms"
                                   : "the default cooldown");
        caf::anon_send(links.limiter, cooldown_atom_v, c.model, c.wait_ms);
        return;
      }
      case command::drain: {
        wire::reason_body r;
        if (!wire::decode(b, r, err)) {
          err = "DRAIN: " + err;
          break;
        }
        auto& n = book.nodes().at(id);
        spdlog::info("worker node {} ({}) is draining ({}): {} task(s) to finish",
                     n.name, worker, r.reason, n.running.size());
        publish("node.draining", {{"node", n.name},
                                  {"worker", worker},
                                  {"running", n.running.size()},
                                  {"reason", r.reason}});
        book.drain(id);
        return;
      }
      case command::disconnect: {
        // It leaves in any case; a reason of the wrong type is not kept.
        wire::reason_body r;
        wire::decode(b, r, err);
        node_down(id, "disconnected (" + r.reason + ")");
        return;
      }
      default:
        err = "unknown command \"" + wire::printable(m.cmd) + "\"";
        break;
    }
    spdlog::warn("worker node {}: {}", book.nodes().at(id).name, err);
    to_node(id, command::error, {{"reason", err}});
  }

  // -- producer endpoint -----------------------------------------------------

  /// What the nodes add to a producer's STATUS (producer_desk has the rest).
  void add_nodes(json& s) const {
    json nodes = json::array();
    std::map<std::string, int> per_worker;
    for (auto& [id, n] : book.nodes()) {
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
      s["workers"][w]["dispatch_queue"] = book.queued(w);
    }
    s["nodes"] = std::move(nodes);
  }

  void on_producer_message(const envelope& env, const wire::message& m) {
    desk.on_message(env, m, clock_type::now(), [this](json& s) { add_nodes(s); });
    send_answers();
  }

  void send_answers() {
    for (auto& a : desk.take())
      to_producer(a.to, a.cmd, a.body);
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
      on_results(id, frames[2], frames[3]);
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
    on_worker_message(id, *m);
  }

  void handle_note(broker_note& n) {
    if (auto* d = std::get_if<broker_note::dispatch>(&n.v)) {
      replies.emplace(d->ticket, std::move(d->reply));
      if (stopping) {
        deliver(d->ticket, stopped_result(d->t));
        return;
      }
      if (!orphans.empty()) {
        auto o = orphans.find(key(d->t.worker, d->t.task_id));
        if (o != orphans.end()) {
          spdlog::info("{}/{}: answered by its run from before our restart",
                       d->t.worker, d->t.task_id);
          if (!o->second.files.empty())
            keep_files(d->t, o->second.files);
          result r;
          r.task_id = d->t.task_id;
          r.worker = d->t.worker;
          deliver(d->ticket, std::move(r), std::move(o->second.text));
          orphans.erase(o);
          return;
        }
      }
      auto worker = d->t.worker;
      send_tasks(book.submit(d->ticket, std::move(d->t), worker, std::move(d->wire)));
    } else if (std::holds_alternative<broker_note::stop>(n.v)) {
      // What no node has yet goes back unrun; what runs finishes.
      stopping = true;
      book.pause();
      answer_queued_stopped();
    } else if (auto* g = std::get_if<broker_note::grant>(&n.v)) {
      if (!book.nodes().count(g->node)) {
        // The node died while its permit waited: give the room back.
        caf::anon_send(links.limiter, settle_atom_v, g->permit,
                       run_usage{0, 0, 0});
        return;
      }
      permits[g->node][g->permit.id] = g->permit;
      to_node(g->node, wire::command::grant,
              wire::encode(wire::permit_body{g->id, g->permit}, "permit"));
    } else if (auto* e = std::get_if<broker_note::event>(&n.v)) {
      publish("task." + e->e.kind, {{"kind", e->e.kind},
                                    {"worker", e->e.worker},
                                    {"task_id", e->e.task_id},
                                    {"detail", e->e.detail}});
    } else if (auto* w = std::get_if<broker_note::written>(&n.v)) {
      desk.result_written(w->r, clock_type::now());
      send_answers();
    }
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
      bool more = unit->pending() || !outgoing.empty() || !delivered.empty();
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
      auto now = clock_type::now();
      if (now >= next_beat) {
        for (auto& [id, n] : book.nodes())
          to_node(id, wire::command::heartbeat, json::object());
        for (auto& id : book.silent_since(now, timeout))
          node_down(id, "no heartbeat for " + std::to_string(timeout.count())
                          + " ms");
        next_beat = now + cfg.heartbeat;
      }
    }
    flush_tasks();
    flush_delivered();
    for (auto& [id, n] : book.nodes())
      to_node(id, wire::command::disconnect, {{"reason", "orchestrator shutting down"}});
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

std::string broker::events_endpoint() const {
  return p_->events.get(zmq::sockopt::last_endpoint);
}

} // namespace troupe

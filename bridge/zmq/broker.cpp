#include "bridge/zmq/broker.hpp"
#include "core/outcome.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <thread>
#include <unordered_map>

#include <pthread.h>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "actors/worker.hpp"
#include "bridge/zmq/dispatcher.hpp"
#include "bridge/files/fs_queue.hpp"
#include "bridge/zmq/detail/inline_unit.hpp"
#include "bridge/zmq/json_scan.hpp"
#include "bridge/files/queue_status.hpp"
#include "bridge/zmq/remote_workers.hpp"
#include "bridge/zmq/wire.hpp"
#include "bridge/zmq/curve.hpp"
#include "bridge/zmq/frames.hpp"
#include "caf/all.hpp"
#include "core/atomic_file.hpp"
#include "core/clock.hpp"
#include "core/handoff.hpp"
#include "core/json_text.hpp"
#include "core/report.hpp"

namespace troupe {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

/// A producer's return address: the ROUTER identity, plus the empty
/// delimiter for REQ peers.
using envelope = std::vector<std::string>;

std::string key(const std::string& worker, const std::string& task_id) {
  return worker + "/" + task_id;
}

/// A workflow submitted over the wire, until each of its tasks has a result.
struct wire_run {
  std::string run_id;
  std::optional<envelope> reply_to; // set when the producer waits
  workflow wf;
  std::set<std::string> remaining;  // worker/task_id
  std::string started_at;
  clock_type::time_point t0;
};

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
  fs_queue q;

  dispatcher book;
  /// Granted permits not yet settled, per node: settled at their estimate
  /// if the node dies, so their room is not held for ever.
  std::map<std::string, std::map<uint64_t, permit_ask>> permits;
  std::map<std::string, std::vector<envelope>> waiters; // worker/task_id
  std::map<std::string, wire_run> runs;
  std::map<std::string, std::set<std::string>> run_of; // worker/task_id
  uint64_t next_run = 1;
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
    : cfg(std::move(s)), q(cfg.root, {cfg.workers.begin(), cfg.workers.end()},
                           cfg.max_task_bytes) {
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

  /// The file to write for a task, or nullopt when there is nothing to
  /// write (`existing`: a result exists already; else the same task file is
  /// there from an earlier submission: one task, one result) or it cannot be
  /// (the reason in `err`).
  std::optional<std::pair<std::string, std::string>>
  task_file(const task& t, bool& existing, std::string& err) {
    existing = q.find_result(t.task_id, t.worker).has_value();
    if (existing)
      return std::nullopt;
    auto name = t.task_id + ".json";
    auto path = q.tasks_dir(t.worker) + "/" + name;
    std::error_code ec;
    if (fs::exists(path, ec)
        || fs::exists(q.tasks_dir(t.worker) + "/.claimed/" + name, ec))
      return std::nullopt;
    // Compact, as it arrived: the file drop checks the same limit on the
    // file's size, so what passes here passes there.
    auto body = to_json(t).dump() + "\n";
    if (body.size() > cfg.max_task_bytes) {
      err = "task " + t.task_id + ": " + std::to_string(body.size())
            + " bytes, more than the limit of " + std::to_string(cfg.max_task_bytes);
      return std::nullopt;
    }
    return std::make_pair(path, std::move(body));
  }

  /// Writes task files with one durability barrier; the first error or "".
  static std::string write_all(
    const std::vector<std::pair<std::string, std::string>>& files) {
    for (auto& e : write_files_atomic(files))
      if (!e.empty())
        return e;
    return {};
  }

  /// ERROR with the problems in its reason (a client that shows only the
  /// reason still says what to fix) and as a list.
  void refuse(const envelope& env, const std::string& what, const problems& ps) {
    auto reason = what;
    for (size_t i = 0; i < ps.size(); ++i)
      reason += (i == 0 ? ": " : "; ") + ps[i];
    to_producer(env, wire::command::error, {{"reason", reason}, {"problems", ps}});
  }

  void submit_task(const envelope& env, const json& tj, bool wait) {
    problems ps;
    auto t = task_from_json(tj, ps);
    if (t && !cfg.workers.count(t->worker))
      ps.push_back("worker \"" + t->worker + "\": not configured");
    if (t && std::count(t->dependencies.begin(), t->dependencies.end(), t->task_id))
      ps.push_back("dependencies: " + t->task_id + " depends on itself");
    if (!t || !ps.empty()) {
      refuse(env, "task refused", ps);
      return;
    }
    bool existing = false;
    std::string err;
    auto file = task_file(*t, existing, err);
    if (file)
      err = write_all({*file});
    if (!err.empty()) {
      to_producer(env, wire::command::error, {{"reason", err}});
      return;
    }
    to_producer(env, wire::command::accepted, {{"task_id", t->task_id},
                                  {"worker", t->worker},
                                  {"existing", existing}});
    if (!wait)
      return;
    if (existing)
      to_producer(env, wire::command::result,
                  {{"result", to_json(*q.find_result(t->task_id, t->worker))}});
    else
      waiters[key(t->worker, t->task_id)].push_back(env);
  }

  void submit_workflow(const envelope& env, const json& wj, bool wait) {
    problems ps;
    auto wf = workflow_from_json(wj, ps);
    if (wf)
      check_workflow(*wf, cfg.workers, ps, cfg.limits);
    if (!wf || !ps.empty()) {
      refuse(env, "workflow refused", ps);
      return;
    }
    wire_run run;
    run.run_id = "wire-" + compact_utc_now() + "-" + std::to_string(next_run++);
    run.started_at = rfc3339_now();
    run.t0 = clock_type::now();
    json ids = json::array();
    std::vector<std::pair<std::string, std::string>> files;
    std::string err;
    for (auto& t : wf->tasks) {
      bool existing = false;
      if (auto f = task_file(t, existing, err))
        files.push_back(std::move(*f));
      if (!err.empty())
        break;
      ids.push_back(t.task_id);
      if (!existing) {
        run.remaining.insert(key(t.worker, t.task_id));
        run_of[key(t.worker, t.task_id)].insert(run.run_id);
      }
    }
    // All or nothing is checked before anything is written.
    if (err.empty())
      err = write_all(files);
    if (!err.empty()) {
      for (auto& k : run.remaining)
        run_of[k].erase(run.run_id);
      to_producer(env, wire::command::error, {{"reason", err}});
      return;
    }
    if (wait)
      run.reply_to = env;
    run.wf = std::move(*wf);
    to_producer(env, wire::command::accepted, {{"run_id", run.run_id}, {"tasks", ids}});
    auto id = run.run_id;
    runs.emplace(id, std::move(run));
    maybe_finish_run(id);
  }

  void maybe_finish_run(const std::string& run_id) {
    auto i = runs.find(run_id);
    if (i == runs.end() || !i->second.remaining.empty())
      return;
    auto& run = i->second;
    auto s = run_summary::of(
      run.wf, run.run_id, run.started_at,
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now()
                                                            - run.t0)
        .count());
    s.tasks = run.wf.tasks;
    for (auto& t : run.wf.tasks)
      if (auto r = q.find_result(t.task_id, t.worker))
        s.results.push_back(*r);
    auto js = report_json(s);
    // The producer still gets its REPORT: the results themselves are safe
    // in results/, only this summary of them is missing on disk.
    if (auto err = write_report(cfg.root + "/runs/" + run.run_id, js, report_markdown(s));
        !err.empty())
      spdlog::error("run {}: the report was not written: {}", run.run_id, err);
    if (run.reply_to)
      to_producer(*run.reply_to, wire::command::report,
                  {{"run_id", run.run_id},
                   {"status", s.all_complete() ? "complete" : "failed"},
                   {"report", js}});
    runs.erase(i);
  }

  void result_written(const result& r) {
    auto k = key(r.worker, r.task_id);
    if (auto w = waiters.find(k); w != waiters.end()) {
      for (auto& env : w->second)
        to_producer(env, wire::command::result, {{"result", to_json(r)}});
      waiters.erase(w);
    }
    if (auto ro = run_of.find(k); ro != run_of.end()) {
      auto ids = std::move(ro->second);
      run_of.erase(ro);
      for (auto& id : ids) {
        if (auto run = runs.find(id); run != runs.end())
          run->second.remaining.erase(k);
        maybe_finish_run(id);
      }
    }
  }

  json status() {
    auto s = queue_status(cfg.root, cfg.workers);
    s.erase("root"); // the orchestrator's own paths are not a producer's business
    json nodes = json::array();
    std::map<std::string, int> per_worker;
    for (auto& [id, n] : book.nodes()) {
      json x = {{"node", n.name},
                {"worker", n.worker},
                {"slots", n.slots},
                {"busy", n.running.size()},
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
    s["nodes"] = nodes;
    return s;
  }

  void cancel(const envelope& env, const wire::task_ref& ref) {
    auto& worker = ref.worker;
    auto& id = ref.task_id;
    auto name = id + ".json";
    if (!cfg.workers.count(worker) || !fs_queue::is_candidate(name)
        || !q.claim(worker, name)) {
      to_producer(env, wire::command::error,
                  {{"reason", worker + "/" + id
                                + " is not waiting in tasks/ (running, done "
                                  "or unknown)"}});
      return;
    }
    auto o = q.read(worker, name, true, true, 0);
    task t;
    t.task_id = id;
    t.worker = worker;
    if (o.state == fs_queue::read_state::ok)
      t = o.t;
    auto r = make_failure(t, status::cancelled, kind::cancelled,
                          "cancelled by a producer before it ran");
    r.completed_at = rfc3339_now();
    if (auto err = q.complete(name, r); !err.empty()) {
      to_producer(env, wire::command::error, {{"reason", err}});
      return;
    }
    to_producer(env, wire::command::cancelled, {{"task_id", id}});
    result_written(r);
  }

  void on_producer_message(const envelope& env, const wire::message& m) {
    using wire::command;
    std::string err;
    switch (wire::command_of(m.cmd)) {
      case command::submit: {
        wire::submit_body sb;
        if (!wire::decode(m.body, sb, err))
          break;
        if (sb.task)
          submit_task(env, *sb.task, sb.wait);
        else
          submit_workflow(env, *sb.workflow, sb.wait);
        return;
      }
      case command::status:
        to_producer(env, command::status, status());
        return;
      case command::result: {
        wire::task_ref ref;
        if (!wire::decode(m.body, ref, err)) {
          err = "RESULT: " + err;
          break;
        }
        auto r = cfg.workers.count(ref.worker) ? q.find_result(ref.task_id, ref.worker)
                                               : std::nullopt;
        if (r)
          to_producer(env, command::result, {{"result", to_json(*r)}});
        else
          to_producer(env, command::error,
                      {{"reason", "no result for " + ref.worker + "/" + ref.task_id}});
        return;
      }
      case command::cancel: {
        wire::task_ref ref;
        if (!wire::decode(m.body, ref, err)) {
          err = "CANCEL: " + err;
          break;
        }
        cancel(env, ref);
        return;
      }
      case command::heartbeat:
        to_producer(env, command::heartbeat, json::object());
        return;
      default:
        err = "unknown command \"" + wire::printable(m.cmd) + "\"";
    }
    to_producer(env, command::error, {{"reason", err}});
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
      result_written(w->r);
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

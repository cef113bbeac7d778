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
  /// An idle asker answered here runs on this thread after the pass (see
  /// inline_unit): it sends its next task without a thread hand-off. A few
  /// messages only, and what it wakes is CAF's: askers may write files.
  std::unique_ptr<inline_unit> unit;

  void flush_acks() {
    for (auto& [id, tickets] : acks)
      to_node(id, "ACK", {{"tickets", tickets}});
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
      s->set(zmq::sockopt::maxmsgsize, int64_t{64} << 20);
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

  void to_node(const std::string& id, const std::string& cmd, json body) {
    to_node(id, wire::encode({cmd, std::move(body)}));
  }

  void to_node(const std::string& id, std::vector<std::string> frames) {
    frames.insert(frames.begin(), id);
    zmqx::send_frames(workers, frames);
  }

  void to_producer(const envelope& env, const std::string& cmd, json body) {
    auto frames = env;
    auto msg = wire::encode({cmd, std::move(body)});
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
        to_node(s.node, {wire::protocol, "TASK", std::move(entry)});
        continue;
      }
      auto& b = batches.try_emplace(s.node, "TASK", "TASKS", "tasks").first->second;
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
    if (cmd == "RESULT") {
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
    if (!c.done())
      spdlog::warn("worker endpoint: a {} that is not valid JSON was dropped "
                   "(what came before the error stands)", cmd);
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
    if (!t || (res.object && res.task_id && *res.task_id != t->task_id)) {
      spdlog::debug("a result for a ticket not open here was dropped");
      return;
    }
    std::vector<dispatcher::send_task> next;
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

  void keep_files(const task& t, std::string_view text) {
    auto files = json::parse(text, nullptr, false);
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
    auto now = clock_type::now();
    auto& b = m.body;
    if (m.cmd == "READY") {
      auto worker = b.value("worker", "");
      if (!cfg.workers.count(worker)) {
        to_node(id, "DISCONNECT",
                {{"reason", "worker \"" + worker + "\" is not configured here"}});
        return;
      }
      std::vector<uint64_t> running;
      if (auto r = b.find("running"); r != b.end() && r->is_array())
        for (auto& x : *r)
          if (auto t = wire::id_value(x))
            running.push_back(*t);
      auto slots = b.value("slots", 1);
      auto name = b.value("node", worker);
      // A node whose worker parked before (it reconnects) takes nothing.
      auto parked = b.value("parked", std::string{});
      if (b.value("batch", false))
        batching.insert(id);
      else
        batching.erase(id);
      auto out = book.ready(id, name, worker, slots, running, now, parked);
      spdlog::info("worker node {} ({}, {} slots) is ready{}", name, worker, slots,
                   parked.empty() ? "" : ", but parked after " + parked);
      publish("node.up", {{"node", name}, {"worker", worker}, {"slots", slots}});
      send_tasks(std::move(out));
      if (parked.empty() && links.worker_back)
        links.worker_back(worker);
      return;
    }
    bool known = book.seen(id, now);
    if (!known) {
      // We restarted, or declared it dead: it must introduce itself again.
      if (m.cmd != "DISCONNECT")
        to_node(id, "DISCONNECT", {{"reason", "unknown node: send READY"}});
      return;
    }
    auto worker = book.nodes().at(id).worker;
    if (m.cmd == "HEARTBEAT") {
      return;
    } else if (m.cmd == "EVENT") {
      caf::anon_send(links.recorder, event_atom_v,
                     task_event{{}, b.value("kind", ""), b.value("task_id", ""),
                                worker, b.value("detail", "")});
    } else if (m.cmd == "PERMIT") {
      auto pid = wire::id_value(b.value("id", json{}));
      if (!pid)
        return;
      auto ask = wire::permit_from(b.value("ask", json::object()));
      ask.worker = worker; // a node speaks for its own worker only
      caf::anon_send(links.relay, permit_atom_v, id, *pid, std::move(ask));
    } else if (m.cmd == "SETTLE") {
      auto p = wire::permit_from(b.value("permit", json::object()));
      auto u = b.value("used", json::object());
      run_usage used{u.value("requests", 1.0), u.value("input_tokens", 0.0),
                     u.value("output_tokens", 0.0)};
      permits[id].erase(p.id);
      caf::anon_send(links.limiter, settle_atom_v, p, used);
    } else if (m.cmd == "COOLDOWN") {
      auto wait = b.value("wait_ms", int64_t{0});
      spdlog::warn("a 429 on node {} ({}): {} waits {}", book.nodes().at(id).name,
                   worker, b.value("model", ""),
                   wait > 0 ? std::to_string(wait) + " ms" : "the default cooldown");
      caf::anon_send(links.limiter, cooldown_atom_v, b.value("model", ""), wait);
    } else if (m.cmd == "DRAIN") {
      auto& n = book.nodes().at(id);
      spdlog::info("worker node {} ({}) is draining ({}): {} task(s) to finish",
                   n.name, worker, b.value("reason", std::string{}), n.running.size());
      publish("node.draining", {{"node", n.name},
                                {"worker", worker},
                                {"running", n.running.size()},
                                {"reason", b.value("reason", std::string{})}});
      book.drain(id);
    } else if (m.cmd == "DISCONNECT") {
      node_down(id, "disconnected (" + b.value("reason", std::string{}) + ")");
    } else {
      to_node(id, "ERROR", {{"reason", "unknown command " + m.cmd}});
    }
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
    auto body = to_json(t).dump(2) + "\n";
    if (body.size() > cfg.max_task_bytes) {
      err = "task " + t.task_id + ": " + std::to_string(body.size())
            + " bytes, at most " + std::to_string(cfg.max_task_bytes);
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

  void submit_task(const envelope& env, const json& tj, bool wait) {
    problems ps;
    auto t = task_from_json(tj, ps);
    if (t && !cfg.workers.count(t->worker))
      ps.push_back("worker \"" + t->worker + "\": not configured");
    if (!t || !ps.empty()) {
      to_producer(env, "ERROR", {{"reason", "task refused"}, {"problems", ps}});
      return;
    }
    bool existing = false;
    std::string err;
    auto file = task_file(*t, existing, err);
    if (file)
      err = write_all({*file});
    if (!err.empty()) {
      to_producer(env, "ERROR", {{"reason", err}});
      return;
    }
    to_producer(env, "ACCEPTED", {{"task_id", t->task_id},
                                  {"worker", t->worker},
                                  {"existing", existing}});
    if (!wait)
      return;
    if (existing)
      to_producer(env, "RESULT",
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
      to_producer(env, "ERROR", {{"reason", "workflow refused"}, {"problems", ps}});
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
      to_producer(env, "ERROR", {{"reason", err}});
      return;
    }
    if (wait)
      run.reply_to = env;
    run.wf = std::move(*wf);
    to_producer(env, "ACCEPTED", {{"run_id", run.run_id}, {"tasks", ids}});
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
    auto dir = cfg.root + "/runs/" + run.run_id;
    std::error_code ec;
    fs::create_directories(dir, ec);
    write_file_atomic(dir + "/report.json", js.dump(2) + "\n");
    write_file_atomic(dir + "/report.md", report_markdown(s));
    if (run.reply_to)
      to_producer(*run.reply_to, "REPORT",
                  {{"run_id", run.run_id},
                   {"status", s.all_complete() ? "complete" : "failed"},
                   {"report", js}});
    runs.erase(i);
  }

  void result_written(const result& r) {
    auto k = key(r.worker, r.task_id);
    if (auto w = waiters.find(k); w != waiters.end()) {
      for (auto& env : w->second)
        to_producer(env, "RESULT", {{"result", to_json(r)}});
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

  void cancel(const envelope& env, const json& b) {
    auto worker = b.value("worker", "");
    auto id = b.value("task_id", "");
    auto name = id + ".json";
    if (!cfg.workers.count(worker) || !fs_queue::is_candidate(name)
        || !q.claim(worker, name)) {
      to_producer(env, "ERROR",
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
      to_producer(env, "ERROR", {{"reason", err}});
      return;
    }
    to_producer(env, "CANCELLED", {{"task_id", id}});
    result_written(r);
  }

  void on_producer_message(const envelope& env, const wire::message& m) {
    auto& b = m.body;
    if (m.cmd == "SUBMIT") {
      bool wait = b.value("wait", false);
      if (b.contains("task"))
        submit_task(env, b["task"], wait);
      else if (b.contains("workflow"))
        submit_workflow(env, b["workflow"], wait);
      else
        to_producer(env, "ERROR", {{"reason", "SUBMIT needs \"task\" or \"workflow\""}});
    } else if (m.cmd == "STATUS") {
      to_producer(env, "STATUS", status());
    } else if (m.cmd == "RESULT") {
      auto worker = b.value("worker", "");
      auto id = b.value("task_id", "");
      auto r = cfg.workers.count(worker) ? q.find_result(id, worker) : std::nullopt;
      if (r)
        to_producer(env, "RESULT", {{"result", to_json(*r)}});
      else
        to_producer(env, "ERROR", {{"reason", "no result for " + worker + "/" + id}});
    } else if (m.cmd == "CANCEL") {
      cancel(env, b);
    } else if (m.cmd == "HEARTBEAT") {
      to_producer(env, "HEARTBEAT", json::object());
    } else {
      to_producer(env, "ERROR", {{"reason", "unknown command " + m.cmd}});
    }
  }

  // -- the loop --------------------------------------------------------------

  void handle_note(broker_note& n) {
    if (auto* d = std::get_if<broker_note::dispatch>(&n.v)) {
      replies.emplace(d->ticket, std::move(d->reply));
      if (stopping) {
        deliver(d->ticket, stopped_result(d->t));
        return;
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
      to_node(g->node, "GRANT",
              {{"id", wire::id_text(g->id)}, {"permit", wire::permit_json(g->permit)}});
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
        if (frames.size() == 4 && frames[1] == wire::protocol
            && (frames[2] == "RESULT" || frames[2] == "RESULTS")) {
          on_results(id, frames[2], frames[3]);
          continue;
        }
        std::string err;
        auto m = wire::decode({frames.begin() + 1, frames.end()}, err);
        if (!m) {
          spdlog::warn("worker endpoint: {}", err);
          continue;
        }
        on_worker_message(id, *m);
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
        std::string err;
        auto m = wire::decode({frames.begin() + at, frames.end()}, err);
        if (!m) {
          to_producer(env, "ERROR", {{"reason", err}});
          continue;
        }
        on_producer_message(env, *m);
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
          to_node(id, "HEARTBEAT", json::object());
        for (auto& id : book.silent_since(now, timeout))
          node_down(id, "no heartbeat for " + std::to_string(timeout.count())
                          + " ms");
        next_beat = now + cfg.heartbeat;
      }
    }
    flush_tasks();
    flush_delivered();
    for (auto& [id, n] : book.nodes())
      to_node(id, "DISCONNECT", {{"reason", "orchestrator shutting down"}});
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

#include "bridge/zmq/worker_desk.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "bridge/zmq/json_scan.hpp"
#include "core/clock.hpp"
#include "core/handoff.hpp"
#include "core/json_text.hpp"
#include "core/outcome.hpp"

namespace troupe {

namespace {

std::string key(const std::string& worker, const std::string& task_id) {
  return worker + "/" + task_id;
}

} // namespace

struct worker_desk::state {
  settings cfg;
  dispatcher book;
  effects out;
  /// Granted permits not yet settled, per node: settled at their estimate
  /// if the node dies, so their room is not held for ever.
  std::map<std::string, std::map<uint64_t, permit_ask>> permits;
  std::map<std::string, std::vector<std::string>> acks; // node -> tickets
  bool stopping = false; // no task goes out to a node any more
  std::vector<dispatcher::send_task> outgoing; // until take_tasks()
  std::vector<outgoing_task> sending;          // what take_tasks() gave
  std::set<std::string> batching; // nodes that take TASKS (READY "batch")
  /// Results of work from before our restart whose task we have not
  /// recovered yet (worker/task_id): the text, and the files it hands on.
  struct orphan {
    std::string text, files;
  };
  static constexpr size_t max_orphans = 4096;
  std::map<std::string, orphan> orphans;

  explicit state(settings s) : cfg(std::move(s)) {
  }

  void say(const std::string& node, wire::command cmd, json body) {
    out.messages.push_back({node, cmd, std::move(body)});
  }

  void publish(std::string topic, json body) {
    body["ts"] = rfc3339_now();
    out.published_events.push_back({std::move(topic), std::move(body)});
  }

  void deliver(uint64_t ticket, result r, std::string text = {}) {
    out.deliveries.push_back({ticket, std::move(r), std::move(text)});
  }

  /// Tasks go out at the end of the broker's pass (take_tasks), so that a
  /// node that takes batches gets one TASKS for all of its tasks.
  void send_tasks(std::vector<dispatcher::send_task> xs) {
    for (auto& s : xs)
      outgoing.push_back(std::move(s));
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
    // Settled at their estimate, so their room is not held for ever.
    for (auto& [pid, p] : permits[id])
      out.settles.push_back({p, p.requests, p.input_tokens, p.output_tokens, 0});
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
  void on_results(const std::string& id, std::string_view cmd, std::string_view body,
                  time_point now) {
    book.seen(id, now);
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
      say(id, wire::command::error,
              {{"reason", std::string{cmd} + " body: not valid JSON (entries before the error stand)"}});
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

  void on_worker_message(const std::string& id, const wire::message& m, time_point now) {
    using wire::command;
    auto& b = m.body;
    auto cmd = wire::command_of(m.cmd);
    std::string err;
    if (cmd == command::ready) {
      wire::ready_body r;
      if (!wire::decode(b, r, err)) {
        // Not registered: a node that cannot say READY gets no task.
        say(id, command::error, {{"reason", err}});
        return;
      }
      if (!cfg.workers.count(r.worker)) {
        say(id, command::disconnect,
                {{"reason", "worker \"" + r.worker + "\" is not configured here"}});
        return;
      }
      if (r.batch)
        batching.insert(id);
      else
        batching.erase(id);
      // A node whose worker parked before (it reconnects) takes nothing.
      auto next = book.ready(id, r.node, r.worker, r.slots, r.running, now, r.parked);
      auto& n = book.nodes().at(id);
      spdlog::info("worker node {} ({}, {} slots) is ready{}{}", r.node, r.worker,
                   r.slots,
                   n.foreign.empty() ? ""
                                     : ", still running " + std::to_string(n.foreign.size())
                                         + " task(s) from before our restart",
                   r.parked.empty() ? "" : ", but parked after " + r.parked);
      publish("node.up", {{"node", r.node}, {"worker", r.worker}, {"slots", r.slots}});
      send_tasks(std::move(next));
      if (r.parked.empty())
        out.workers_back.push_back(r.worker);
      return;
    }
    bool known = book.seen(id, now);
    if (!known) {
      // We restarted, or declared it dead: it must introduce itself again.
      if (cmd != command::disconnect)
        say(id, command::disconnect, {{"reason", wire::send_ready_reason}});
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
        out.task_events.push_back({e.kind, e.task_id, worker, e.detail});
        return;
      }
      case command::permit: {
        wire::permit_body p;
        if (!wire::decode(b, p, err))
          break;
        p.ask.worker = worker; // a node speaks for its own worker only
        out.permit_asks.push_back({id, p.id, std::move(p.ask)});
        return;
      }
      case command::settle: {
        wire::settle_body st;
        if (!wire::decode(b, st, err))
          break;
        permits[id].erase(st.permit.id);
        out.settles.push_back({st.permit, st.requests, st.input_tokens, st.output_tokens,
                               st.cost_usd});
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
        out.cooldowns.push_back({c.model, c.wait_ms});
        return;
      }
      case command::calibrate: {
        wire::calibrate_body c;
        if (!wire::decode(b, c, err))
          break;
        out.calibrations.push_back(std::move(c));
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
    say(id, command::error, {{"reason", err}});
  }

};

worker_desk::worker_desk(settings s) : s_(std::make_unique<state>(std::move(s))) {
}

worker_desk::~worker_desk() = default;

void worker_desk::on_message(const std::string& node, const wire::message& m,
                             time_point now) {
  s_->on_worker_message(node, m, now);
}

void worker_desk::on_results(const std::string& node, std::string_view cmd,
                             std::string_view body, time_point now) {
  s_->on_results(node, cmd, body, now);
}

void worker_desk::submit(uint64_t ticket, task t, std::string wire) {
  auto& st = *s_;
  if (st.stopping) {
    st.deliver(ticket, stopped_result(t));
    return;
  }
  if (!st.orphans.empty()) {
    auto o = st.orphans.find(key(t.worker, t.task_id));
    if (o != st.orphans.end()) {
      spdlog::info("{}/{}: answered by its run from before our restart", t.worker,
                   t.task_id);
      if (!o->second.files.empty())
        st.keep_files(t, o->second.files);
      result r;
      r.task_id = t.task_id;
      r.worker = t.worker;
      st.deliver(ticket, std::move(r), std::move(o->second.text));
      st.orphans.erase(o);
      return;
    }
  }
  auto worker = t.worker;
  st.send_tasks(st.book.submit(ticket, std::move(t), worker, std::move(wire)));
}

void worker_desk::granted(const std::string& node, uint64_t id, const permit_ask& p) {
  auto& st = *s_;
  if (!st.book.nodes().count(node)) {
    // The node died while its permit waited: give the room back.
    st.out.settles.push_back({p, 0, 0, 0, 0});
    return;
  }
  st.permits[node][p.id] = p;
  st.say(node, wire::command::grant, wire::encode(wire::permit_body{id, p}, "permit"));
}

void worker_desk::cancel(const std::string& task_id) {
  auto& st = *s_;
  for (auto& j : st.book.cancel(task_id))
    if (j.node.empty())
      st.deliver(j.ticket, cancelled_result(j.t, "cancelled before it ran"));
    else
      st.say(j.node, wire::command::cancel, {{"ticket", wire::id_text(j.ticket)}});
}

void worker_desk::stop() {
  // What no node has yet goes back unrun; what runs finishes.
  s_->stopping = true;
  s_->book.pause();
  s_->answer_queued_stopped();
}

void worker_desk::beat(time_point now, std::chrono::milliseconds timeout) {
  auto& st = *s_;
  for (auto& [id, n] : st.book.nodes())
    st.say(id, wire::command::heartbeat, json::object());
  for (auto& id : st.book.silent_since(now, timeout))
    st.node_down(id, "no heartbeat for " + std::to_string(timeout.count()) + " ms");
}

void worker_desk::goodbye() {
  for (auto& [id, n] : s_->book.nodes())
    s_->say(id, wire::command::disconnect, {{"reason", "orchestrator shutting down"}});
}

std::vector<worker_desk::outgoing_task>& worker_desk::take_tasks() {
  auto& st = *s_;
  auto& xs = st.sending;
  xs.clear();
  for (auto& s : st.outgoing) {
    // A node that left in this pass took its tickets back into the
    // dispatcher's queue (drop()); nothing is lost by skipping it.
    auto n = st.book.nodes().find(s.node);
    if (n == st.book.nodes().end() || !n->second.running.count(s.ticket))
      continue;
    std::string encoded;
    if (s.wire->empty())
      append_json(encoded, *s.t);
    auto entry = wire::ticketed_entry(s.ticket, "task", s.wire->empty() ? encoded : *s.wire);
    st.add_inputs(*s.t, entry);
    xs.push_back({s.node, std::move(entry), st.batching.count(s.node) > 0});
  }
  st.outgoing.clear();
  return xs;
}

bool worker_desk::has_tasks() const {
  return !s_->outgoing.empty();
}

std::map<std::string, std::vector<std::string>> worker_desk::take_acks() {
  return std::exchange(s_->acks, {});
}

worker_desk::effects& worker_desk::pending() {
  return s_->out;
}

void worker_desk::clear() {
  auto& o = s_->out;
  o.messages.clear();
  o.deliveries.clear();
  o.published_events.clear();
  o.task_events.clear();
  o.permit_asks.clear();
  o.settles.clear();
  o.cooldowns.clear();
  o.calibrations.clear();
  o.workers_back.clear();
}

worker_desk::effects worker_desk::take() {
  return std::exchange(s_->out, effects{});
}

const dispatcher& worker_desk::book() const {
  return s_->book;
}

} // namespace troupe

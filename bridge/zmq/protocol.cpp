#include "bridge/zmq/protocol.hpp"

#include <limits>

#include <array>
#include <charconv>

#include "core/json_reader.hpp"

namespace troupe::wire {

namespace {

// In the order of the enum; `unknown` first has no name on the wire.
const std::array<std::string, 25>& names() {
  static const std::array<std::string, 25> xs = {
    "",        "READY",    "TASK",   "TASKS",  "RESULT",  "RESULTS",
    "ACK",     "EVENT",    "PERMIT", "GRANT",  "SETTLE",  "COOLDOWN",
    "DRAIN",   "SUBMIT",   "ACCEPTED", "STATUS", "CANCEL", "CANCELLED",
    "REPORT",  "HEARTBEAT", "DISCONNECT", "ERROR", "CALIBRATE",
    "APPROVE", "APPROVED",
  };
  return xs;
}

/// Finishes a decoder: the first problem, prefixed with the command, is the
/// reason (the others are about the same body; one is enough to fix).
bool done(const problems& ps, command c, std::string& error) {
  if (ps.empty())
    return true;
  error = name(c) + ": " + ps.front();
  for (size_t i = 1; i < ps.size() && i < 4; ++i)
    error += "; " + ps[i];
  return false;
}

/// A ticket or permit id: a decimal string (or a JSON unsigned).
void id_field(json_reader& r, const std::string& key, uint64_t& dst) {
  if (auto v = r.get(key)) {
    if (auto x = id_value(*v))
      dst = *x;
    else
      r.fail(key, *v, "must be a decimal id string");
  }
}

void ids_field(json_reader& r, const std::string& key, std::vector<uint64_t>& dst) {
  auto v = r.get(key);
  if (!v)
    return;
  if (!v->is_array()) {
    r.fail(key, *v, "must be an array of decimal id strings");
    return;
  }
  for (auto& x : *v) {
    auto id = id_value(x);
    if (!id) {
      r.fail(key, x, "must hold decimal id strings only");
      return;
    }
    dst.push_back(*id);
  }
}

} // namespace

const std::string& name(command c) {
  return names()[static_cast<size_t>(c)];
}

command command_of(std::string_view frame) {
  auto& xs = names();
  for (size_t i = 1; i < xs.size(); ++i)
    if (xs[i] == frame)
      return static_cast<command>(i);
  return command::unknown;
}

std::string printable(std::string_view raw) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < raw.size() && i < 64; ++i) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (raw.size() > 64)
    out += "...";
  return out;
}

std::optional<uint64_t> id_value(const json& j) {
  if (j.is_number_unsigned())
    return j.get<uint64_t>();
  if (!j.is_string())
    return std::nullopt;
  auto& s = j.get_ref<const std::string&>();
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size())
    return std::nullopt;
  return v;
}

// -- permits -----------------------------------------------------------------

json permit_json(const permit_ask& a) {
  return {{"id", std::to_string(a.id)},
          {"worker", a.worker},
          {"model", a.model},
          {"prio", std::string{to_string(a.prio)}},
          {"requests", a.requests},
          {"input_tokens", a.input_tokens},
          {"prefix_tokens", a.prefix_tokens},
          {"output_tokens", a.output_tokens},
          {"exact", a.exact}};
}

json grant_json(const permit_ask& a) {
  auto j = permit_json(a);
  if (a.capped_until_ms > 0)
    j["capped_until_ms"] = a.capped_until_ms;
  return j;
}

bool permit_from(const json& j, permit_ask& out, problems& ps, const std::string& path) {
  json_reader r{j, path, ps, false};
  id_field(r, "id", out.id);
  r.str("worker", out.worker, true);
  r.str("model", out.model, true);
  std::string prio{to_string(out.prio)};
  if (auto v = r.get("prio")) {
    auto p = v->is_string() ? parse_priority(v->get_ref<const std::string&>())
                            : std::nullopt;
    if (p)
      out.prio = *p;
    else
      r.fail("prio", *v, "must be \"high\", \"medium\" or \"low\"");
  }
  r.number("requests", out.requests, 0, false);
  r.number("input_tokens", out.input_tokens, 0, false);
  r.number("prefix_tokens", out.prefix_tokens, 0, false);
  r.number("output_tokens", out.output_tokens, 0, false);
  r.boolean("exact", out.exact);
  r.integer("capped_until_ms", out.capped_until_ms, 0, std::numeric_limits<int64_t>::max());
  return r.ok();
}

// -- decoders ----------------------------------------------------------------

bool decode(const json& body, ready_body& out, std::string& error) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    if (r.require("worker"))
      r.str("worker", out.worker);
    r.integer("slots", out.slots, 1, max_slots);
    out.node = out.worker;
    r.str("node", out.node);
    ids_field(r, "running", out.running);
    r.boolean("batch", out.batch);
    r.str("parked", out.parked, true);
  }
  return done(ps, command::ready, error);
}

bool decode(const json& body, event_body& out, std::string& error) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    r.str("kind", out.kind, true);
    r.str("task_id", out.task_id, true);
    r.str("detail", out.detail, true);
  }
  return done(ps, command::event, error);
}

bool decode(const json& body, permit_body& out, std::string& error, const char* key) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    if (r.require("id"))
      id_field(r, "id", out.id);
    if (auto a = r.get(key))
      permit_from(*a, out.ask, ps, key);
  }
  return done(ps, std::string_view{key} == "ask" ? command::permit : command::grant,
              error);
}

bool decode(const json& body, settle_body& out, std::string& error) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    if (auto p = r.get("permit"))
      permit_from(*p, out.permit, ps, "permit");
    if (auto u = r.get("used")) {
      json_reader used{*u, "used", ps, false};
      used.number("requests", out.requests, 0, false);
      used.number("input_tokens", out.input_tokens, 0, false);
      used.number("output_tokens", out.output_tokens, 0, false);
      used.number("cost_usd", out.cost_usd, 0, false);
    }
  }
  return done(ps, command::settle, error);
}

bool decode(const json& body, cooldown_body& out, std::string& error) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    r.str("model", out.model, true);
    // A day: no real retry-after is longer, and a bigger wait would stop
    // the whole team. A subscription's 7-day window parks the account up
    // to its reset, a week at most.
    r.integer("wait_ms", out.wait_ms, 0,
              out.model == every_model ? 8 * 86'400'000LL : 86'400'000LL);
  }
  return done(ps, command::cooldown, error);
}

bool decode(const json& body, calibrate_body& out, std::string& error) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    r.str("model", out.model, true);
    if (auto l = r.get("left")) {
      json_reader left{*l, "left", ps, false}; // says so if no object
      left.number("requests", out.requests, 0, false);
      left.number("input_tokens", out.input_tokens, 0, false);
      left.number("output_tokens", out.output_tokens, 0, false);
    }
  }
  return done(ps, command::calibrate, error);
}

bool decode(const json& body, ack_body& out, std::string& error) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    ids_field(r, "tickets", out.tickets);
    uint64_t one = 0;
    if (r.get("ticket")) {
      id_field(r, "ticket", one);
      if (r.ok())
        out.tickets.push_back(one);
    }
  }
  return done(ps, command::ack, error);
}

bool decode(const json& body, reason_body& out, std::string& error) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    r.str("reason", out.reason, true);
  }
  // DRAIN, DISCONNECT and ERROR share it: the caller names the command.
  if (ps.empty())
    return true;
  error = ps.front();
  return false;
}

bool decode(const json& body, submit_body& out, std::string& error) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    out.task = r.get("task");
    out.workflow = r.get("workflow");
    r.boolean("wait", out.wait);
    if (out.task && out.workflow)
      ps.push_back("give \"task\" or \"workflow\", not both");
    else if (!out.task && !out.workflow && body.is_object())
      ps.push_back("needs \"task\" or \"workflow\"");
  }
  return done(ps, command::submit, error);
}

bool decode(const json& body, task_ref& out, std::string& error) {
  problems ps;
  {
    json_reader r{body, "", ps, false};
    if (r.require("worker"))
      r.str("worker", out.worker);
    if (r.require("task_id"))
      r.str("task_id", out.task_id);
  }
  if (ps.empty())
    return true;
  error = ps.front();
  return false;
}

bool decode(const json& body, approve_body& out, std::string& error) {
  task_ref ref;
  if (!decode(body, ref, error))
    return false;
  out.worker = std::move(ref.worker);
  out.task_id = std::move(ref.task_id);
  problems ps;
  {
    json_reader r{body, "", ps, false};
    r.boolean("approve", out.approve);
    r.str("why", out.why, true);
  }
  return done(ps, command::approve, error);
}

bool decode(const json& body, cancel_body& out, std::string& error) {
  if (!body.is_object() || !body.contains("run_id")) {
    task_ref ref;
    if (!decode(body, ref, error))
      return false;
    out.worker = std::move(ref.worker);
    out.task_id = std::move(ref.task_id);
    return true;
  }
  problems ps;
  {
    json_reader r{body, "", ps, false};
    r.str("run_id", out.run_id);
  }
  if (ps.empty() && (body.contains("worker") || body.contains("task_id")))
    ps.push_back("give run_id, or worker and task_id, not both");
  if (ps.empty() && out.run_id.empty())
    ps.push_back("run_id: must not be empty");
  if (ps.empty())
    return true;
  error = ps.front();
  return false;
}

// -- encoders ----------------------------------------------------------------

json encode(const ready_body& b) {
  json running = json::array();
  for (auto t : b.running)
    running.push_back(std::to_string(t));
  json j = {{"worker", b.worker},
            {"slots", b.slots},
            {"node", b.node.empty() ? b.worker : b.node},
            {"running", std::move(running)},
            {"batch", b.batch}};
  if (!b.parked.empty())
    j["parked"] = b.parked;
  return j;
}

json encode(const event_body& b) {
  return {{"kind", b.kind}, {"task_id", b.task_id}, {"detail", b.detail}};
}

json encode(const permit_body& b, const char* key) {
  return {{"id", std::to_string(b.id)},
          {key, std::string_view{key} == "ask" ? permit_json(b.ask) : grant_json(b.ask)}};
}

json encode(const settle_body& b) {
  return {{"permit", permit_json(b.permit)},
          {"used",
           {{"requests", b.requests},
            {"input_tokens", b.input_tokens},
            {"output_tokens", b.output_tokens},
            {"cost_usd", b.cost_usd}}}};
}

json encode(const cooldown_body& b) {
  return {{"model", b.model}, {"wait_ms", b.wait_ms}};
}

json encode(const calibrate_body& b) {
  json left = json::object();
  if (b.requests >= 0)
    left["requests"] = b.requests;
  if (b.input_tokens >= 0)
    left["input_tokens"] = b.input_tokens;
  if (b.output_tokens >= 0)
    left["output_tokens"] = b.output_tokens;
  return {{"model", b.model}, {"left", left}};
}

json encode(const ack_body& b) {
  json xs = json::array();
  for (auto t : b.tickets)
    xs.push_back(std::to_string(t));
  return {{"tickets", std::move(xs)}};
}

json encode(const reason_body& b) {
  return {{"reason", b.reason}};
}

} // namespace troupe::wire

#pragma once

// The TRP1 wire contract in one header (docs/PROTOCOL.md): the commands,
// every protocol constant, and one struct per body with its JSON both ways.
// Decoders never throw: a field of the wrong type or out of range becomes a
// reason that names it, the message is answered ERROR (PROTOCOL.md §2), and
// nothing else changes. Pure: no sockets here.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_codec.hpp"
#include "core/limiter_core.hpp"

namespace troupe::wire {

/// Frame 0 of every message.
inline constexpr const char* protocol_id = "TRP1";

enum class command : uint8_t {
  unknown,
  // worker endpoint
  ready, task, tasks, result, results, ack, event, permit, grant, settle,
  cooldown, drain,
  // producer endpoint (RESULT is both: a query and its answer)
  submit, accepted, status, cancel, cancelled, report,
  // both
  heartbeat, disconnect, error,
  // worker endpoint, later
  calibrate,
  // producer endpoint, later
  approve, approved,
};

/// The command's name on the wire, e.g. "READY".
const std::string& name(command c);
/// The command frame 1 names; `unknown` for anything else.
command command_of(std::string_view frame);

// -- limits (PROTOCOL.md §2, §3, §5) -----------------------------------------

/// A message larger than this closes the sender's connection.
inline constexpr int64_t max_message_bytes = int64_t{64} << 20;
/// A TASKS or RESULTS batch is cut at this many entries or JSON bytes.
inline constexpr size_t batch_max_entries = 64;
inline constexpr size_t batch_max_bytes = size_t{4} << 20;
/// The most slots one node may offer in READY.
inline constexpr int64_t max_slots = 1024;
inline constexpr std::chrono::milliseconds default_heartbeat{1000};
inline constexpr int default_liveness = 3;
/// A node that lost the orchestrator reconnects after this, doubling up to
/// reconnect_max, each wait jittered.
inline constexpr std::chrono::milliseconds reconnect_first{100};
inline constexpr std::chrono::milliseconds reconnect_max{10'000};
/// How soon a node told DISCONNECT comes back with READY.
inline constexpr std::chrono::milliseconds reconnect_on_disconnect{100};

/// What the orchestrator says to a node it does not know (it restarted, or
/// declared the node dead): the node answers with READY.
inline constexpr std::string_view send_ready_reason = "unknown node: send READY";

/// Tickets and permit ids travel as decimal strings (JSON numbers lose
/// precision above 2^53 in many languages); a JSON unsigned is read too.
inline std::string id_text(uint64_t id) { return std::to_string(id); }
std::optional<uint64_t> id_value(const json& j);

/// Bytes a peer sent, safe to quote in a reason or a log line: printable
/// ASCII as is, anything else as \xNN, cut at 64 bytes.
std::string printable(std::string_view raw);

// -- bodies ------------------------------------------------------------------

/// W → O READY.
struct ready_body {
  std::string worker;
  int slots = 1;
  std::string node; // defaults to the worker's name
  std::vector<uint64_t> running;
  bool batch = false;
  std::string parked;
};

/// W → O EVENT.
struct event_body {
  std::string kind, task_id, detail;
};

/// W → O PERMIT ("ask") and O → W GRANT ("permit").
struct permit_body {
  uint64_t id = 0;
  permit_ask ask;
};

/// W → O SETTLE.
struct settle_body {
  permit_ask permit;
  double requests = 1, input_tokens = 0, output_tokens = 0;
  double cost_usd = 0; // the day's spend (optional on the wire: 0)
};

/// W → O COOLDOWN.
struct cooldown_body {
  std::string model;
  int64_t wait_ms = 0; // 0: the default wait
};

/// W → O CALIBRATE: what the API's headers say remains of the account's
/// limits (-1: not sent).
struct calibrate_body {
  std::string model;
  double requests = -1, input_tokens = -1, output_tokens = -1;
};

/// O → W ACK (`tickets`, or one `ticket`).
struct ack_body {
  std::vector<uint64_t> tickets;
};

/// DRAIN, DISCONNECT and ERROR.
struct reason_body {
  std::string reason;
};

/// P → O SUBMIT: exactly one of task and workflow, pointing into the body.
struct submit_body {
  const json* task = nullptr;
  const json* workflow = nullptr;
  bool wait = false; // PROTOCOL.md §4: no notification unless asked
};

/// P → O RESULT (the query) and CANCEL.
struct task_ref {
  std::string worker, task_id;
};

/// P → O CANCEL: one task (worker, task_id) or every task of a wire run.
struct cancel_body {
  std::string worker, task_id, run_id;
};

/// P → O APPROVE: a person's answer to a task awaiting approval.
struct approve_body {
  std::string worker, task_id;
  bool approve = true; // false: rejected, for `why`
  std::string why;
};

/// Each decoder fills `out` and returns true, or returns false with the
/// reason in `error` ("READY: slots \"two\": must be an integer from 1 to
/// 1024"). Fields not named here are ignored.
bool decode(const json& body, ready_body& out, std::string& error);
bool decode(const json& body, event_body& out, std::string& error);
/// `key` is "ask" for PERMIT, "permit" for GRANT.
bool decode(const json& body, permit_body& out, std::string& error,
            const char* key = "ask");
bool decode(const json& body, settle_body& out, std::string& error);
bool decode(const json& body, cooldown_body& out, std::string& error);
bool decode(const json& body, calibrate_body& out, std::string& error);
bool decode(const json& body, ack_body& out, std::string& error);
bool decode(const json& body, reason_body& out, std::string& error);
bool decode(const json& body, submit_body& out, std::string& error);
bool decode(const json& body, task_ref& out, std::string& error);
/// Either run_id, or worker and task_id; not both.
bool decode(const json& body, cancel_body& out, std::string& error);
bool decode(const json& body, approve_body& out, std::string& error);

json encode(const ready_body& b);
json encode(const event_body& b);
json encode(const permit_body& b, const char* key = "ask");
json encode(const settle_body& b);
json encode(const cooldown_body& b);
json encode(const calibrate_body& b);
json encode(const ack_body& b);
json encode(const reason_body& b);

/// A permit (ask or grant) as JSON, and back (type-checked).
json permit_json(const permit_ask& a);
/// A GRANT's permit: the same, with "capped_until_ms" when it is refused
/// (the day's spend cap is reached).
json grant_json(const permit_ask& a);
bool permit_from(const json& j, permit_ask& out, problems& ps, const std::string& path);

} // namespace troupe::wire

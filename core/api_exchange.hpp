#pragma once

// What the gateway reads from one Messages API exchange, free of sockets:
// the tag that names a request's worker, task and attempt; the usage a
// response reports, streamed (SSE) or whole; the limit headers. Fed bytes
// as they pass, so a test reaches every decision without a server.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/model.hpp"

namespace troupe {

/// The header each worker's CLI sends with every request (through
/// ANTHROPIC_CUSTOM_HEADERS), so the gateway knows whose request it holds.
inline constexpr const char* task_tag_header = "x-troupe-task";

struct task_tag {
  std::string worker;
  std::string task_id;
  int attempt = 1;
  priority prio = priority::medium;
  /// What the attempt may spend, in USD: the gateway refuses a request
  /// that would take it past (core/budget_ledger). None: no cap.
  std::optional<double> budget_usd;
};

/// The words of a spend limit in an API error's text, in any case: a limit
/// the user set (a 400, "You have reached your specified API usage
/// limits") or an older account's (a 429, enforced_spend_limit_reached).
bool names_spend_limit(std::string_view text);

/// An API refusal that the same request with the same key cannot change:
/// the key is refused (401, 403), or a spend limit is reached (a 400 or a
/// 429 whose body names it). The CLI sends such a request again by itself;
/// the gateway answers those repeats without going upstream.
bool final_refusal(int status, std::string_view body);

/// "worker=marie;task=t%3B1;attempt=2;prio=high;budget=0.25": values
/// percent-encoded, so any task id survives one header line.
std::string format_task_tag(const task_tag& t);
/// nullopt when the value is not such a tag (then the request is held as
/// nobody's: unknown worker, medium priority).
std::optional<task_tag> parse_task_tag(std::string_view value);

/// Begins the message of the gateway's refusal of a request past its
/// task's budget (a 400 invalid_request_error): the executor finds it in
/// the CLI's result and ends the task with kind budget.
inline constexpr const char* gateway_budget_error = "troupe_budget_exceeded";

/// Reads an SSE response as it streams past: the usage of message_start
/// (input and cache figures) and message_delta (output, cumulative), and an
/// `error` event's type. Chunks may split lines anywhere.
class sse_usage_reader {
public:
  void feed(std::string_view bytes);
  const usage& used() const { return used_; }
  /// A message_start was seen: the API accepted and metered the request.
  bool started() const { return started_; }
  /// The type of an `error` event ("overloaded_error"), or empty.
  const std::string& error_type() const { return error_; }

private:
  void line(std::string_view l);
  void dispatch();

  std::string partial_; // an unfinished line
  std::string event_, data_;
  usage used_;
  bool started_ = false;
  std::string error_;
};

/// The usage of a whole (not streamed) Messages response body; zero when
/// it has none (an error).
usage usage_of_message(std::string_view body);

/// What an answer's anthropic-ratelimit-*-remaining headers say is left of
/// the account's limits; -1 where a header is absent.
struct limits_left {
  double requests = -1, input_tokens = -1, output_tokens = -1;
  bool any() const {
    return requests >= 0 || input_tokens >= 0 || output_tokens >= 0;
  }
};
/// Reads one header (any case) into `into`; false if it is none of them.
bool read_limit_header(std::string_view name, std::string_view value,
                       limits_left& into);

/// A retry-after header (delay-seconds) in milliseconds; nullopt when
/// absent or not a number. HTTP dates are not used by the API.
std::optional<int64_t> retry_after_ms(std::string_view value);

} // namespace troupe

#pragma once

// How a task ended, as the rest of the system decides on it: every error
// kind by name (the strings are what results on disk and on the wire carry,
// docs/PROTOCOL.md §6), which kinds are worth another attempt, which park a
// worker, which mean "not run, hand it back", and the results that say so.

#include <string>
#include <string_view>

#include "core/model.hpp"

namespace troupe {

namespace kind {
// The run failed and may not fail again: retried up to max_attempts.
inline constexpr const char* crashed = "crashed";
inline constexpr const char* timeout = "timeout";
inline constexpr const char* stalled = "stalled";
inline constexpr const char* bad_output = "bad_output";
inline constexpr const char* overloaded = "overloaded";
inline constexpr const char* server_error = "server_error";
inline constexpr const char* rate_limited = "rate_limited";
inline constexpr const char* connection = "connection";
// The run would fail the same way again.
inline constexpr const char* budget = "budget";
inline constexpr const char* max_turns = "max_turns";
inline constexpr const char* permission_denied = "permission_denied";
inline constexpr const char* unsupported = "unsupported";
// They need a person: the worker parks.
inline constexpr const char* auth = "auth";
inline constexpr const char* not_logged_in = "not_logged_in";
inline constexpr const char* spend_limit = "spend_limit";
// Not run.
inline constexpr const char* dependency_failed = "dependency_failed";
inline constexpr const char* parked = "parked";
// The day's spend reached limits.spend_per_day_usd: not run until it turns.
inline constexpr const char* spend_cap = "spend_cap";
// A person said no to a task that waited for approval.
inline constexpr const char* rejected = "rejected";
inline constexpr const char* stopping = "stopping";
inline constexpr const char* cancelled = "cancelled";
inline constexpr const char* bad_input = "bad_input"; // a rejected task file or message
} // namespace kind

/// Kinds that may not repeat: tried again up to max_attempts. Never
/// retried: those that need a person, budget, max_turns (the same run would
/// stop the same way), dependency_failed and the "not run" kinds.
bool retryable(std::string_view kind);

/// Kinds after which a worker parks: trying more tasks would only repeat
/// the failure.
bool parks_worker(std::string_view kind);

/// Where a parked answer (and the failure that parked its worker) says
/// when the worker runs again by itself (unix ms), for the file drop.
inline constexpr const char* resumes_at_key = "resumes_at_ms";

/// The answer to a task a parked worker did not run: status cancelled,
/// kind::parked (or the kind it parked on, as spend_cap), the reason in
/// the message, and when the worker runs again (until_ms, unix ms; 0:
/// when a person acts).
result parked_result(const task& t, const std::string& reason,
                     int64_t until_ms = 0, const char* why_kind = kind::parked);

/// The answer to a task not started because its worker is stopping: status
/// cancelled, kind::stopping; a file drop hands such a task back.
result stopped_result(const task& t);

/// The answer to a task someone cancelled (caf-node cancel, CANCEL):
/// status cancelled, kind::cancelled, `why` in the message.
result cancelled_result(const task& t, const std::string& why);

/// The result of a task that never started because `dep`, which it builds
/// on, was cancelled (`why`): cancelled too, naming it.
result dependency_cancelled_result(const task& t, const std::string& dep,
                                   const std::string& why);

/// Whether `r` is such an answer (the task did not run); the same from a
/// result's status and error.kind as text (read in place from the wire).
bool is_stopped_result(const result& r);
bool is_stopped_result(std::string_view status, std::string_view error_kind);

/// What a dependency's result says when it did not complete: "kind:
/// message", or its status.
std::string failure_reason(const result& dependency);

/// The result of a task whose dependency `dep` ended without completing
/// (`why`, see failure_reason) or cannot run at all (a cycle, a task that
/// does not exist): failed, kind::dependency_failed, naming it.
result dependency_failed_result(const task& t, const std::string& dep,
                                const std::string& why);

/// What a task ends as when its dependency `dep` ended with `r` without
/// completing: failed or cancelled in turn, naming the reason. A `dep`
/// that itself failed or was cancelled for one of its own dependencies
/// passes its answer on as it is, so that the end of a chain names its
/// root, as the dependency engine names it for a whole workflow.
result dependent_result(const task& t, const std::string& dep, const result& r);

} // namespace troupe

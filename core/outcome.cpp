#include "core/outcome.hpp"

#include "core/clock.hpp"

namespace troupe {

bool retryable(std::string_view k) {
  return k == kind::timeout || k == kind::stalled || k == kind::crashed
         || k == kind::bad_output || k == kind::overloaded
         || k == kind::server_error || k == kind::rate_limited
         || k == kind::connection;
}

bool parks_worker(std::string_view k) {
  return k == kind::auth || k == kind::not_logged_in || k == kind::spend_limit;
}

result parked_result(const task& t, const std::string& reason,
                     int64_t until_ms, const char* why_kind) {
  return make_failure(t, status::cancelled, why_kind,
                      "not run: worker " + t.worker + " is parked after " + reason
                        + (until_ms > 0
                             ? "; it runs again from " + rfc3339_of_ms(until_ms)
                                 + " (send the task again then)"
                             : "; fix it and start again"));
}

result stopped_result(const task& t) {
  return make_failure(t, status::cancelled, kind::stopping,
                      "not started: worker " + t.worker + " is stopping");
}

result cancelled_result(const task& t, const std::string& why) {
  return make_failure(t, status::cancelled, kind::cancelled, why);
}

result dependency_cancelled_result(const task& t, const std::string& dep,
                                   const std::string& why) {
  // A stop, a budget, a parked worker or a cancel: this one was not run
  // either, and that is not a failure of its own.
  return make_failure(t, status::cancelled,
                      why.rfind(kind::budget, 0) == 0 ? kind::budget : kind::cancelled,
                      "not run: dependency \"" + dep + "\" was cancelled (" + why + ")");
}

bool is_stopped_result(std::string_view state, std::string_view error_kind) {
  return state == to_string(status::cancelled) && error_kind == kind::stopping;
}

bool is_stopped_result(const result& r) {
  return r.error && is_stopped_result(to_string(r.state), r.error->kind);
}

std::string failure_reason(const result& dep) {
  if (dep.error)
    return dep.error->kind + ": " + dep.error->message;
  return std::string{to_string(dep.state)};
}

result dependency_failed_result(const task& t, const std::string& dep,
                                const std::string& why) {
  return make_failure(t, status::failed, kind::dependency_failed,
                      "dependency \"" + dep + "\" failed (" + why + ")");
}

result dependent_result(const task& t, const std::string& dep, const result& r) {
  bool inherited = r.error
                   && (r.error->kind == kind::dependency_failed
                       || r.error->message.rfind("not run: dependency ", 0) == 0);
  auto out = r.state == status::cancelled
               ? dependency_cancelled_result(t, dep, failure_reason(r))
               : dependency_failed_result(t, dep, failure_reason(r));
  if (inherited)
    out.error = r.error;
  return out;
}

} // namespace troupe

#pragma once

// The gateway: a local Messages API endpoint between the workers' CLIs and
// the API. Each request is held until the rate limiter grants it, on its
// own figures (the tokens its body will be metered for, its max_tokens);
// then it goes upstream, and the answer streams back untouched, byte for
// byte, as it arrives; its real usage is settled once it has passed. A 429
// stops every worker's requests for its retry-after, here, not one CLI.
// Knows no actor: the limiter is reached through hooks (node/gateway_role).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/api_exchange.hpp"
#include "core/config.hpp" // gateway_settings
#include "core/limiter_core.hpp"
#include "core/model.hpp"
#include "core/subscription_window.hpp"

namespace troupe {

/// One exchange, once it is over: what the log line and tests see. Never
/// a header or a body: they may hold keys.
struct exchange_note {
  std::string worker, task_id;
  int attempt = 0;
  std::string method, path;
  int status = 0;
  bool streamed = false;
  double estimate = 0;   // input tokens it was held for
  int64_t held_ms = 0;   // waiting for its permit
  int64_t total_ms = 0;  // from its arrival to its last byte
  usage used;
  double cost_usd = 0; // what `used` costs at the model's price
  /// Refused: it would have taken its task past its budget.
  bool budget_refused = false;
  /// Answered from the recording (--replay), at no cost; or not found
  /// there, so it went upstream.
  bool replayed = false, replay_missed = false;
  /// A final refusal (final_refusal) of this attempt's key, answered
  /// again from memory: it did not go upstream.
  bool repeated = false;
  /// Kept in the recording (--record).
  bool recorded = false;
  /// 429s with a retry-after that the gateway waited out and sent again,
  /// instead of passing them on.
  int retried = 0;
  /// The answer's subscription windows rejected the account: every
  /// worker is parked until the window resets; `parked` says so in words.
  std::optional<window_park> park;
  std::string parked;
  std::string error;     // the gateway's own failure, if any
};

struct gateway_hooks {
  /// Blocks until the limiter grants the ask; nullopt: it cannot (the
  /// limiter is gone), and the request is answered 503.
  std::function<std::optional<permit_ask>(permit_ask)> acquire;
  /// The real usage of a granted request (zero when the API refused it).
  std::function<void(const permit_ask&, double requests, const usage&)> settle;
  /// The API answered 429 with this retry-after (0: unknown); with model
  /// every_model the whole account waits (a subscription window).
  std::function<void(const std::string& model, int64_t wait_ms)> cool_down;
  /// What the answer's headers say remains of the account's limits.
  std::function<void(const std::string& model, const limits_left&)> calibrate;
  /// A subscription window rejected the account, parked until its reset
  /// (cool_down has been told): called at once, for the log and status.
  std::function<void(const window_park&)> on_park;
  std::function<void(const exchange_note&)> on_exchange;
};

class gateway {
public:
  gateway(gateway_settings s, gateway_hooks h);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  /// Binds and starts serving; false with `error` when it cannot bind.
  bool start(std::string& error);
  /// http://host:port, for ANTHROPIC_BASE_URL.
  std::string url() const;
  void stop();
  /// The task was cancelled: its requests in flight end now, upstream too
  /// (the API stops answering, and billing, what nobody will read).
  void abort_task(const std::string& worker, const std::string& task_id);

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace troupe

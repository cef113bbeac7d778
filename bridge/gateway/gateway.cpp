#include "bridge/gateway/gateway.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "bridge/gateway/recording.hpp"
#include "bridge/gateway/upstream.hpp"
#include "bridge/httpd/listen.hpp"
#include "core/access_reset.hpp"
#include "core/api_exchange.hpp"
#include "core/budget_ledger.hpp"
#include "core/clock.hpp"
#include "core/pricing.hpp"
#include "core/replay_key.hpp"
#include "core/sha256.hpp"
#include "core/subscription_window.hpp"
#include "core/prompt_cache.hpp"
#include "core/text.hpp"

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;

// The API refuses larger requests; a bigger body is no request of the CLI.
constexpr size_t max_request_bytes = 32u << 20;

// 429s with a retry-after that one request waits out at the gateway before
// the CLI is told.
constexpr int max_retries = 3;

// Final refusals kept to answer the CLI's repeats of them (the oldest go),
// for as long as those repeats come: the CLI sends them within a second or
// two. Not longer: a key can be fixed, and a spend limit that names its end
// is over then (the worker runs the same attempt again at that moment).
constexpr size_t max_refusals_kept = 256;
constexpr auto refusal_kept_for = std::chrono::seconds(30);

// A rejecting subscription window that names no reset parks the account
// this long, then a request finds out again.
constexpr int64_t window_fallback_ms = 60'000;

/// Headers that belong to one connection, not to the request (RFC 9110
/// §7.6.1), those the gateway sets itself, and cpp-httplib's own
/// pseudo-headers (the peer's address).
bool hop_by_hop(const std::string& lname) {
  static const char* names[] = {
    "host", "content-length", "connection", "keep-alive", "transfer-encoding",
    "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection",
    "expect", "accept-encoding",
    "remote_addr", "remote_port", "local_addr", "local_port"};
  for (auto* n : names)
    if (lname == n)
      return true;
  return lname == task_tag_header;
}

std::string api_error(const std::string& type, const std::string& message) {
  json j{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
  return j.dump();
}

int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t)
    .count();
}

bool is_event_stream(const std::string& content_type) {
  return ascii_lower(content_type).rfind("text/event-stream", 0) == 0;
}

/// A Messages request, not count_tokens or another endpoint.
bool is_messages(const std::string& path) {
  auto p = path.substr(0, path.find('?'));
  return p.size() >= 12 && p.compare(p.size() - 12, 12, "/v1/messages") == 0;
}

} // namespace

struct gateway::impl {
  gateway_settings s;
  gateway_hooks h;
  httplib::Server svr;
  std::thread listener;
  int port = 0;
  std::atomic<bool> stopping{false}; // ends transfers that still wait
  std::mutex cache_mx; // guards cache, ratios, outputs and ledger
  prompt_cache cache;
  std::map<std::string, double> ratios;
  std::map<std::string, double> outputs; // output tokens per answer, by model
  budget_ledger ledger;
  std::optional<recording> record_to, replay_from;

  /// What one exchange carries from its arrival to its last byte; shared
  /// with the content provider, which outlives the handler.
  struct exchange {
    exchange_note note;
    clock_type::time_point arrived = clock_type::now();
    std::optional<permit_ask> permit;
    std::optional<request_shape> shape;
    std::optional<task_tag> tag;
    /// Admitted against its task's budget, at this expected cost.
    std::optional<double> booked;
    std::unique_ptr<upstream_call> call;
    sse_usage_reader sse;
    limits_left left; // from the answer's headers
    bool finished = false;
    /// Recording: the key, what is kept of the request, the answer's
    /// bytes as they passed.
    std::string key;
    bool capture = false;
    recorded_request request;
    recorded_answer captured;
    /// Its task was cancelled (abort_task): no more of it goes upstream.
    std::atomic<bool> aborted{false};
    /// Its attempt and key (refusal_key_of), for the refusals kept.
    std::string refusal_key;
  };

  /// Final refusals (final_refusal) by attempt and key: the CLI sends such
  /// a request again by itself (a 401 once, a spend limit's 400 five
  /// times), and the API then sees one request per attempt, not several.
  std::mutex refusals_mx;
  struct kept_refusal {
    recorded_answer answer;
    clock_type::time_point until;
  };
  std::map<std::string, kept_refusal> refusals;
  std::deque<std::string> refusal_order; // oldest first

  /// The key is kept only as its digest.
  static std::string refusal_key_of(const task_tag& t, const httplib::Request& req) {
    auto key = req.get_header_value("x-api-key");
    if (key.empty())
      key = req.get_header_value("authorization");
    return t.worker + '\n' + t.task_id + '\n' + std::to_string(t.attempt) + '\n'
           + sha256_hex(key);
  }

  std::optional<recorded_answer> refused_before(const std::string& key) {
    std::lock_guard<std::mutex> g{refusals_mx};
    auto i = refusals.find(key);
    if (i == refusals.end() || i->second.until <= clock_type::now())
      return std::nullopt;
    return i->second.answer;
  }

  void keep_refusal(const std::string& key, recorded_answer a) {
    auto until = clock_type::now() + refusal_kept_for;
    if (auto end = regain_access_ms(a.body))
      until = std::min(until, clock_type::now()
                                + std::chrono::milliseconds(*end - unix_now_ms()));
    std::lock_guard<std::mutex> g{refusals_mx};
    auto [i, fresh] = refusals.try_emplace(key);
    i->second = {std::move(a), until}; // a refusal after one expired: kept anew
    if (!fresh)
      return;
    refusal_order.push_back(key);
    if (refusal_order.size() > max_refusals_kept) {
      refusals.erase(refusal_order.front());
      refusal_order.pop_front();
    }
  }

  /// The API's own refusal again, from memory: nothing is held, nothing
  /// goes upstream.
  void answer_refused_again(exchange& x, recorded_answer a, httplib::Response& res) {
    x.note.status = res.status = a.status;
    x.note.repeated = true;
    x.note.error = "answered again here, not sent: the API refused this attempt's "
                   "request with this key already";
    res.set_content(std::move(a.body), a.content_type);
    finish(x, true);
  }

  /// The exchanges of tagged tasks still going, for abort_task; expired
  /// ones are pruned as new ones come.
  std::mutex live_mx;
  std::multimap<std::string, std::weak_ptr<exchange>> live;

  void track(const std::shared_ptr<exchange>& x) {
    std::lock_guard<std::mutex> g{live_mx};
    for (auto i = live.begin(); i != live.end();)
      i = i->second.expired() ? live.erase(i) : std::next(i);
    live.emplace(x->tag->worker + "/" + x->tag->task_id, x);
  }

  void abort_task(const std::string& key) {
    std::lock_guard<std::mutex> g{live_mx};
    auto [from, to] = live.equal_range(key);
    for (auto i = from; i != to; ++i)
      if (auto x = i->second.lock())
        x->aborted = true;
  }

  /// Gives the permit back with what the request used; once.
  void settle(exchange& x, double requests, const usage& used) {
    if (x.permit && h.settle)
      h.settle(*x.permit, requests, used);
    x.permit.reset();
  }

  /// Settles, calibrates and logs, once.
  void finish(exchange& x, bool answered) {
    if (x.finished)
      return;
    x.finished = true;
    if (x.sse.started() || x.note.streamed)
      x.note.used = x.sse.used();
    if (x.call && !x.call->error().empty() && x.note.error.empty())
      x.note.error = "upstream: " + x.call->error();
    if (!answered && x.note.error.empty())
      x.note.error = "the client went away";
    bool ok = x.note.status >= 200 && x.note.status < 300;
    if (x.shape && !x.note.replayed)
      x.note.cost_usd = cost_of(x.note.used, price_of(x.shape->model, s.prices));
    if (x.capture && ok && answered) {
      x.captured.status = x.note.status;
      auto err = record_to->store(x.key, x.request, x.captured);
      x.note.recorded = err.empty();
      if (!err.empty() && x.note.error.empty())
        x.note.error = "not recorded: " + err;
    }
    if (x.shape) {
      std::lock_guard<std::mutex> g{cache_mx};
      if (ok) {
        // Only an answer whose usage shows the cache at work: an API that
        // caches nothing of this prompt (too short, or caching off) meters
        // all of it every time, and pricing it as cached would let a
        // request through that takes its task past its budget.
        auto& u = x.note.used;
        if (u.cache_creation_input_tokens > 0 || u.cache_read_input_tokens > 0)
          cache.store(*x.shape, clock_type::now());
        learn_ratio(*x.shape, x.note.used);
        learn_output(x.shape->model, x.note.used);
      }
      if (x.booked)
        ledger.settle(*x.tag, *x.booked, x.note.cost_usd);
    }
    // A refused request (429, 5xx) was not metered; one the API read
    // counts as a request even when it failed on its content.
    auto st = x.note.status;
    settle(x, st == 429 || st >= 500 || st == 0 ? 0 : 1, x.note.used);
    // After the settle: the headers cap what the settle left.
    if (x.shape && x.left.any() && h.calibrate)
      h.calibrate(x.shape->model, x.left);
    x.note.total_ms = ms_since(x.arrived);
    if (h.on_exchange)
      h.on_exchange(x.note);
  }

  /// Answers from the recording: nothing is held, nothing goes upstream,
  /// nothing is spent; the usage it reports still counts as seen.
  void answer_recorded(exchange& x, recorded_answer a, httplib::Response& res) {
    auto& n = x.note;
    n.replayed = true;
    n.status = res.status = a.status;
    n.streamed = is_event_stream(a.content_type);
    if (n.streamed)
      x.sse.feed(a.body);
    else
      n.used = usage_of_message(a.body);
    res.set_content(std::move(a.body), a.content_type);
    finish(x, true);
  }

  /// Answers with the gateway's own failure, in the API's error shape.
  void refuse(exchange& x, httplib::Response& res, int status, std::string why,
              const char* type = "api_error") {
    x.note.status = res.status = status;
    x.note.error = std::move(why);
    res.set_content(api_error(type, "troupe gateway: " + x.note.error),
                    "application/json");
    finish(x, true);
  }

  /// What a request is expected to cost: its uncached input at the cache
  /// write rate (the dearer of the two it may be metered at), its cached
  /// input at the read rate, and the model's usual answer.
  double expected_cost(const request_shape& shape) {
    auto p = price_of(shape.model, s.prices);
    auto ratio = ratio_of(shape.model);
    auto metered = cache.metered_estimate(shape, clock_type::now()) * ratio;
    auto all = tokens_of_bytes(shape.bytes) * ratio;
    auto out = std::min(shape.max_tokens, outputs.count(shape.model) ? outputs[shape.model] : 0.0);
    return (metered * p.cache_write + std::max(0.0, all - metered) * p.cache_read
            + out * p.output)
           / 1e6;
  }

  /// Books a budgeted task's request against its budget; false (answered
  /// 400: the CLI asks again a few times, each refused at no cost, then
  /// ends the run with the message) when it would pass it.
  bool admit(exchange& x, httplib::Response& res) {
    if (!x.shape || !x.tag || !x.tag->budget_usd)
      return true;
    std::optional<std::string> refused;
    double expected = 0;
    {
      std::lock_guard<std::mutex> g{cache_mx};
      expected = expected_cost(*x.shape);
      refused = ledger.admit(*x.tag, expected, clock_type::now());
    }
    if (!refused) {
      x.booked = expected;
      return true;
    }
    x.note.budget_refused = true;
    refuse(x, res, 400, std::move(*refused), "invalid_request_error");
    return false;
  }

  /// Holds a request until the limiter grants it; false (answered 503)
  /// when it cannot.
  bool hold(exchange& x, priority prio, httplib::Response& res) {
    auto& n = x.note;
    permit_ask ask;
    ask.worker = n.worker;
    ask.model = x.shape->model;
    ask.prio = prio;
    ask.requests = 1;
    {
      std::lock_guard<std::mutex> g{cache_mx};
      ask.input_tokens = cache.metered_estimate(*x.shape, clock_type::now())
                         * ratio_of(x.shape->model);
    }
    ask.output_tokens = x.shape->max_tokens;
    ask.exact = true;
    n.estimate = ask.input_tokens;
    auto asked = clock_type::now();
    x.permit = h.acquire(std::move(ask));
    n.held_ms += ms_since(asked);
    if (x.permit)
      return true;
    refuse(x, res, 503, "no permit from the rate limiter");
    return false;
  }

  /// The API's tokens per four bytes of prompt, per model, learnt from
  /// what it reports: its tokenizer is not ours.
  double ratio_of(const std::string& model) {
    auto i = ratios.find(model);
    return i == ratios.end() ? 1.0 : i->second;
  }
  void learn_output(const std::string& model, const usage& u) {
    auto [i, fresh] = outputs.emplace(model, static_cast<double>(u.output_tokens));
    if (!fresh)
      i->second += 0.2 * (static_cast<double>(u.output_tokens) - i->second);
  }
  void learn_ratio(const request_shape& shape, const usage& u) {
    auto told = static_cast<double>(u.input_tokens + u.cache_creation_input_tokens
                                    + u.cache_read_input_tokens);
    auto ours = tokens_of_bytes(shape.bytes);
    if (told <= 0 || ours < 64)
      return; // too small to say anything
    auto r = std::clamp(told / ours, 0.25, 4.0);
    auto [i, fresh] = ratios.emplace(shape.model, r);
    if (!fresh)
      i->second += 0.2 * (r - i->second);
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    auto x = std::make_shared<exchange>();
    auto& n = x->note;
    n.method = req.method;
    n.path = req.target.empty() ? req.path : req.target;
    auto& tag = x->tag = parse_task_tag(req.get_header_value(task_tag_header));
    if (tag) {
      n.worker = tag->worker;
      n.task_id = tag->task_id;
      n.attempt = tag->attempt;
      track(x);
      x->refusal_key = refusal_key_of(*tag, req);
      if (auto a = refused_before(x->refusal_key)) {
        answer_refused_again(*x, std::move(*a), res);
        return;
      }
    }
    // One account, as the limiter's global buckets are: its keys share
    // one prompt cache (the API's is per organisation).
    if (req.method == "POST" && is_messages(n.path))
      x->shape = shape_of_request(req.body);
    upstream_request up;
    up.method = req.method;
    up.url = s.upstream + n.path;
    up.body = req.body;
    up.ca_file = s.ca_file;
    up.cancel = &stopping;
    up.abort = &x->aborted;
    for (auto& [k, v] : req.headers)
      if (!hop_by_hop(ascii_lower(k)))
        up.headers.emplace_back(k, v);
    auto model = x->shape ? x->shape->model : std::string{};
    if ((record_to || replay_from) && req.method == "POST") {
      x->key = replay_key(req.method, n.path, req.body, s.volatile_paths);
      if (replay_from) {
        if (auto a = replay_from->find(x->key)) {
          answer_recorded(*x, std::move(*a), res);
          return;
        }
        n.replay_missed = true;
      }
      if (record_to) {
        x->capture = true;
        x->request = {req.method, n.path, model, up.headers, req.body.size()};
      }
    }
    if (!admit(*x, res))
      return;
    for (;;) {
      if (x->shape && h.acquire && !hold(*x, tag ? tag->prio : priority::medium, res))
        return;
      if (x->aborted) {
        refuse(*x, res, 502, "its task was cancelled");
        return;
      }
      x->call = std::make_unique<upstream_call>(up);
      if (!x->call->await_headers()) {
        refuse(*x, res, 502, "upstream: " + x->call->error());
        return;
      }
      n.status = x->call->status();
      x->left = limits_left{};
      subscription_window windows;
      std::optional<int64_t> retry_after;
      for (auto& [k, v] : x->call->headers()) {
        read_limit_header(k, v, x->left);
        read_window_header(k, v, windows);
        if (ascii_lower(k) == "retry-after")
          retry_after = retry_after_ms(v);
      }
      auto now_ms = unix_now_ms();
      auto park = park_of(windows, now_ms, window_fallback_ms);
      if (park) {
        // The account gets nothing until the window resets: every
        // worker's requests, and every worker's next run, wait for it.
        auto wait = std::max<int64_t>(1, park->until_ms - now_ms);
        if (h.cool_down)
          h.cool_down(every_model, wait);
        if (h.on_park)
          h.on_park(*park);
        n.parked = describe_park(*park, now_ms);
        n.park = park;
        // A reset close enough is waited out here, as a retry-after is;
        // a later one is the CLI's to report (its request would time out).
        retry_after = wait <= s.window_wait_s * 1000 ? std::optional<int64_t>{wait}
                                                    : std::nullopt;
      }
      if (n.status != 429)
        break;
      // Every worker's requests wait out the 429 here, not only this one.
      // (0 tells the limiter "unknown": a retry-after of 0 is 1 ms.)
      if (h.cool_down && !park)
        h.cool_down(model, retry_after ? std::max<int64_t>(1, *retry_after) : 0);
      // Without a retry-after it is no rate limit to wait out (a spend
      // limit): the CLI is told.
      if (!retry_after || !x->permit || n.retried >= max_retries)
        break;
      std::string drained;
      while (x->call->next(drained))
        drained.clear();
      settle(*x, 0, usage{});
      ++n.retried;
    }
    res.status = n.status;
    std::string content_type = "application/octet-stream";
    for (auto& [k, v] : x->call->headers()) {
      auto lk = ascii_lower(k);
      if (lk == "content-type")
        content_type = v;
      else if (!hop_by_hop(lk))
        res.set_header(k, v);
    }
    x->captured.content_type = content_type;
    if (is_event_stream(content_type)) {
      // Streamed: each piece goes on as it arrives, and is read for usage
      // on the way. cpp-httplib never compresses an event stream.
      n.streamed = true;
      res.set_chunked_content_provider(
        content_type,
        [this, x](size_t, httplib::DataSink& sink) {
          std::string chunk;
          bool more = x->call->next(chunk);
          if (!chunk.empty()) {
            x->sse.feed(chunk);
            if (x->capture)
              x->captured.body += chunk;
            if (!sink.write(chunk.data(), chunk.size()))
              return false;
          }
          if (!more) {
            finish(*x, true);
            sink.done();
          }
          return true;
        },
        [this, x](bool) { finish(*x, false); });
      return;
    }
    // A whole body (JSON: an answer or an error): read, then sent with its
    // length, so it is not re-encoded either.
    auto body = std::make_shared<std::string>();
    while (x->call->next(*body)) {
    }
    n.used = usage_of_message(*body);
    if (x->capture)
      x->captured.body = *body;
    if (x->tag && final_refusal(n.status, *body))
      keep_refusal(x->refusal_key, {n.status, content_type, *body});
    res.set_content_provider(
      body->size(), content_type,
      [body](size_t offset, size_t length, httplib::DataSink& sink) {
        return sink.write(body->data() + offset, length);
      },
      [this, x](bool ok) { finish(*x, ok); });
  }
};

gateway::gateway(gateway_settings s, gateway_hooks h) : p_(new impl) {
  p_->s = std::move(s);
  p_->h = std::move(h);
  if (!p_->s.record_dir.empty())
    p_->record_to.emplace(p_->s.record_dir);
  if (!p_->s.replay_dir.empty())
    p_->replay_from.emplace(p_->s.replay_dir);
  while (!p_->s.upstream.empty() && p_->s.upstream.back() == '/')
    p_->s.upstream.pop_back();
}

gateway::~gateway() { stop(); }

bool gateway::start(std::string& error) {
  auto& svr = p_->svr;
  svr.set_payload_max_length(max_request_bytes);
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    p_->handle(req, res);
  };
  svr.Post(".*", handler);
  svr.Get(".*", handler);
  p_->port = listen_in_background(svr, p_->s.host, p_->s.port,
                                  static_cast<size_t>(p_->s.threads), p_->listener, error);
  return p_->port > 0;
}

std::string gateway::url() const {
  return "http://" + p_->s.host + ":" + std::to_string(p_->port);
}

void gateway::abort_task(const std::string& worker, const std::string& task_id) {
  if (p_)
    p_->abort_task(worker + "/" + task_id);
}

void gateway::stop() {
  if (!p_ || !p_->listener.joinable())
    return;
  p_->stopping = true;
  p_->svr.stop();
  p_->listener.join();
}

} // namespace troupe

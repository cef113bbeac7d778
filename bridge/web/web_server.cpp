#include "bridge/web/web_server.hpp"

#include <atomic>
#include <charconv>
#include <thread>

#include <httplib.h>

#include "bridge/httpd/listen.hpp"
#include "bridge/web/dashboard_page.hpp"
#include "bridge/web/metrics.hpp"
#include "core/event_ring.hpp"
#include "core/json_codec.hpp"

namespace troupe {

namespace {

// An idle stream gets a comment this often, so proxies and the browser's
// EventSource keep it open, and a gone client is found out.
constexpr auto keepalive_every = std::chrono::seconds(15);
// Events written to a stream in one go.
constexpr size_t events_per_write = 256;
// The browser's EventSource reconnects after this long (ms).
constexpr int reconnect_ms = 2000;

std::string error_body(const std::string& why) {
  return json{{"error", why}}.dump();
}

uint64_t id_of(const std::string& text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc{} && end == text.data() + text.size() ? v : 0;
}

void send(httplib::Response& res, const web_reply& r) {
  res.status = r.status;
  res.set_content(r.body, r.content_type.c_str());
}

} // namespace

struct web_server::impl {
  web_settings s;
  web_hooks h;
  httplib::Server svr;
  std::thread loop;
  int port = 0;
  event_ring events;
  web_metrics metrics;
  std::atomic<bool> watched{false}; // a stream was opened

  impl(web_settings settings, web_hooks hooks)
      : s(std::move(settings)), h(std::move(hooks)), events(s.events_kept) {}

  bool allowed(const httplib::Request& req, httplib::Response& res) {
    if (bearer_allows(req.get_header_value("Authorization"), s.token))
      return true;
    // EventSource cannot send headers: the page gives the stream its token
    // as access_token (RFC 6750 §2.3).
    if (req.has_param("access_token")
        && bearer_allows("Bearer " + req.get_param_value("access_token"), s.token))
      return true;
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(error_body("a bearer token is required (Authorization: Bearer …)"),
                    "application/json");
    return false;
  }

  /// GET /api/events: every event as it is published, each with its id;
  /// after a reconnect (Last-Event-ID, or ?after=N) only those after it.
  void stream(const httplib::Request& req, httplib::Response& res) {
    // A new reader starts from now (it reads the state from the API); one
    // that says where it was (Last-Event-ID, or ?after=N, 0: all kept)
    // gets what came after.
    auto last = req.get_header_value("Last-Event-ID");
    if (last.empty() && req.has_param("after"))
      last = req.get_param_value("after");
    watched = true;
    auto after = std::make_shared<uint64_t>(last.empty() ? events.last_id() : id_of(last));
    auto first = std::make_shared<bool>(true);
    res.set_header("Cache-Control", "no-store");
    res.set_chunked_content_provider(
      "text/event-stream", [this, after, first](size_t, httplib::DataSink& sink) {
        std::string out;
        if (*first) {
          *first = false;
          out = "retry: " + std::to_string(reconnect_ms) + "\n\n";
        }
        auto b = events.wait_after(*after, events_per_write, keepalive_every);
        if (b.missed > 0)
          // Too far behind: the reader refetches the state, then follows.
          out += "event: missed\ndata: " + json{{"missed", b.missed}}.dump() + "\n\n";
        for (auto& e : b.events) {
          out += "id: " + std::to_string(e.id) + "\nevent: task\ndata: " + e.text + "\n\n";
          *after = e.id;
        }
        if (out.empty())
          out = ": keepalive\n\n";
        if (!sink.write(out.data(), out.size()))
          return false;
        if (events.closed()) {
          sink.done();
          return false;
        }
        return true;
      });
  }

  void act(const httplib::Request& req, httplib::Response& res, const std::string& scope,
           const std::string& name, const std::string& worker, const std::string& action) {
    std::string why;
    if (!req.body.empty()) {
      auto j = json::parse(req.body, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        send(res, {400, error_body("the body is not a JSON object")});
        return;
      }
      why = string_member(j, "why");
    }
    send(res, h.act(action, scope, name, worker, why));
  }

  void routes() {
    auto guard = [this](auto fn) {
      return [this, fn](const httplib::Request& req, httplib::Response& res) {
        if (allowed(req, res))
          fn(req, res);
      };
    };
    // The page holds no data of its own: it loads without a token and asks
    // the API with the one in its address (?token=).
    svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(dashboard_page(), "text/html; charset=utf-8");
    });
    svr.Get("/api/status", guard([this](const httplib::Request&, httplib::Response& res) {
              send(res, h.status());
            }));
    svr.Get("/api/runs", guard([this](const httplib::Request&, httplib::Response& res) {
              send(res, h.runs());
            }));
    svr.Get(R"(/api/runs/([^/]+)/timeline\.svg)",
            guard([this](const httplib::Request& req, httplib::Response& res) {
              send(res, h.timeline(req.matches[1]));
            }));
    svr.Get(R"(/api/runs/([^/]+))",
            guard([this](const httplib::Request& req, httplib::Response& res) {
              send(res, h.run(req.matches[1]));
            }));
    svr.Get(R"(/api/tasks/([^/]+)/([^/]+))",
            guard([this](const httplib::Request& req, httplib::Response& res) {
              send(res, h.task(req.matches[1], req.matches[2]));
            }));
    svr.Get("/metrics", guard([this](const httplib::Request&, httplib::Response& res) {
              auto st = h.status();
              auto j = json::parse(st.body, nullptr, false);
              res.set_content(metrics.scrape(j.is_discarded() ? json{} : j),
                              "text/plain; version=0.0.4; charset=utf-8");
            }));
    svr.Get("/api/events", guard([this](const httplib::Request& req, httplib::Response& res) {
              stream(req, res);
            }));
    svr.Post(R"(/api/tasks/([^/]+)/([^/]+)/(cancel|approve|reject))",
             guard([this](const httplib::Request& req, httplib::Response& res) {
               act(req, res, "task", req.matches[2], req.matches[1], req.matches[3]);
             }));
    svr.Post(R"(/api/runs/([^/]+)/cancel)",
             guard([this](const httplib::Request& req, httplib::Response& res) {
               act(req, res, "run", req.matches[1], "", "cancel");
             }));
    svr.Post(R"(/api/workers/([^/]+)/unpark)",
             guard([this](const httplib::Request& req, httplib::Response& res) {
               act(req, res, "worker", req.matches[1], req.matches[1], "unpark");
             }));
    // Anything else: the API's own shape of "not here".
    svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty())
        return;
      res.set_content(error_body(res.status == 404
                                   ? "no such resource: " + req.method + " " + req.path
                                   : "bad request (HTTP " + std::to_string(res.status)
                                       + "): " + req.method + " " + req.path),
                      "application/json");
    });
  }
};

web_server::web_server(web_settings s, web_hooks h)
    : p_(std::make_unique<impl>(std::move(s), std::move(h))) {}

web_server::~web_server() { stop(); }

bool web_server::start(std::string& error) {
  p_->routes();
  p_->svr.set_payload_max_length(1u << 20);
  p_->port = listen_in_background(p_->svr, p_->s.at.host, p_->s.at.port,
                                  static_cast<size_t>(p_->s.threads), p_->loop, error);
  return p_->port > 0;
}

std::string web_server::url() const {
  auto host = p_->s.at.host.find(':') != std::string::npos ? "[" + p_->s.at.host + "]"
                                                           : p_->s.at.host;
  return "http://" + host + ":" + std::to_string(p_->port);
}

void web_server::publish(std::string event_json, const std::string& kind,
                         const std::string& worker) {
  p_->metrics.event(kind, worker);
  // Kept only once someone watches: before, no reader can ask for it.
  if (p_->watched)
    p_->events.publish(std::move(event_json));
}

bool web_server::watched() const { return p_->watched; }

void web_server::observe(const task_observation& t) { p_->metrics.observe(t); }

void web_server::stop() {
  if (!p_ || !p_->loop.joinable())
    return;
  p_->events.close(); // open streams end
  p_->svr.stop();
  p_->loop.join();
}

} // namespace troupe

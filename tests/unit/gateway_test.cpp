// The gateway over real loopback sockets: an upstream served in-process by
// cpp-httplib, clients with libcurl, the limiter replaced by recording
// hooks.

#include "bridge/gateway/gateway.hpp"

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <httplib.h>

using namespace troupe;
using namespace std::chrono_literals;

namespace {

const std::string first_event =
  "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
  "\"msg_1\",\"usage\":{\"input_tokens\":40,\"cache_creation_input_tokens\":"
  "0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n";
const std::string rest_of_stream =
  "event: content_block_delta\ndata: {\"delta\":{\"text\":\"h\xC3\xA9llo \\u00e9\"}}"
  "\r\n\r\nevent: message_delta\ndata: {\"usage\":{\"output_tokens\":9}}\n\n"
  "event: message_stop\ndata: {}\n\n";

/// Something one thread waits for and another gives.
struct latch {
  std::mutex mx;
  std::condition_variable cv;
  bool open = false;
  void release() {
    std::lock_guard<std::mutex> g{mx};
    open = true;
    cv.notify_all();
  }
  bool wait(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> g{mx};
    return cv.wait_for(g, limit, [&] { return open; });
  }
};

/// The fake API: streams first_event, waits until the client has it, then
/// sends the rest; or answers JSON, or a 429 first.
struct upstream {
  httplib::Server svr;
  std::thread t;
  int port = 0;
  latch client_has_first;
  std::mutex mx;
  std::vector<httplib::Headers> seen; // each request's headers
  int refuse_first = 0;                // 429s to answer before an answer
  int64_t window_reset_s = 0;          // refusals come from a subscription window
  bool streamed_in_time = false;
  int refuse_all = 0;        // every request answered with this status and body
  std::string refusal_body;

  upstream() {
    svr.Post("/v1/messages", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> g{mx};
        seen.push_back(req.headers);
        if (refuse_all) {
          res.status = refuse_all;
          res.set_content(refusal_body, "application/json");
          return;
        }
        if (refuse_first > 0) {
          --refuse_first;
          res.status = 429;
          if (window_reset_s) {
            res.set_header("anthropic-ratelimit-unified-status", "rejected");
            res.set_header("anthropic-ratelimit-unified-reset", std::to_string(window_reset_s));
            res.set_header("anthropic-ratelimit-unified-representative-claim", "five_hour");
            res.set_header("anthropic-ratelimit-unified-5h-utilization", "1.0");
          } else {
            res.set_header("retry-after", "0");
          }
          res.set_header("anthropic-ratelimit-input-tokens-remaining", "0");
          res.set_content(R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})",
                          "application/json");
          return;
        }
      }
      res.set_header("anthropic-ratelimit-input-tokens-remaining", "7000");
      res.set_header("request-id", "req_1");
      if (req.body.find("\"stream\":true") == std::string::npos) {
        res.set_content(R"({"id":"m","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":30,"output_tokens":4}})",
                        "application/json");
        return;
      }
      res.set_chunked_content_provider(
        "text/event-stream", [this, step = 0](size_t, httplib::DataSink& sink) mutable {
          if (step++ == 0) {
            sink.write(first_event.data(), first_event.size());
            return true;
          }
          // The gateway must have passed the first event on already.
          streamed_in_time = client_has_first.wait(10s);
          sink.write(rest_of_stream.data(), rest_of_stream.size());
          sink.done();
          return true;
        });
    });
    // The gateway keeps its upstream connections alive past a test: a
    // server thread waits that long for the next request before stop().
    svr.set_keep_alive_timeout(1);
    port = svr.bind_to_any_port("127.0.0.1");
    t = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) // else a stop() before it would be lost
      std::this_thread::yield();
  }
  ~upstream() {
    svr.stop();
    t.join();
  }
};

struct recorded {
  std::mutex mx;
  std::vector<permit_ask> asked;
  std::vector<std::pair<double, usage>> settled;
  std::vector<int64_t> cooled;
  std::vector<std::string> cooled_models;
  std::vector<limits_left> calibrated;
  std::vector<exchange_note> notes;
  std::condition_variable noted; // a note was added
  /// An exchange's note comes once its answer is sent, which the client may
  /// see first: waits for the first n.
  bool await_notes(size_t n) {
    std::unique_lock<std::mutex> g{mx};
    return noted.wait_for(g, 10s, [&] { return notes.size() >= n; });
  }
};

gateway_hooks hooks_for(recorded& r) {
  gateway_hooks h;
  h.acquire = [&r](permit_ask a) -> std::optional<permit_ask> {
    std::lock_guard<std::mutex> g{r.mx};
    a.id = r.asked.size() + 1;
    r.asked.push_back(a);
    return a;
  };
  h.settle = [&r](const permit_ask&, double n, const usage& u) {
    std::lock_guard<std::mutex> g{r.mx};
    r.settled.emplace_back(n, u);
  };
  h.cool_down = [&r](const std::string& model, int64_t ms) {
    std::lock_guard<std::mutex> g{r.mx};
    r.cooled.push_back(ms);
    r.cooled_models.push_back(model);
  };
  h.calibrate = [&r](const std::string&, const limits_left& l) {
    std::lock_guard<std::mutex> g{r.mx};
    r.calibrated.push_back(l);
  };
  h.on_exchange = [&r](const exchange_note& n) {
    std::lock_guard<std::mutex> g{r.mx};
    r.notes.push_back(n);
    r.noted.notify_all();
  };
  return h;
}

struct reply {
  long status = 0;
  std::string headers, body;
};

/// POSTs with libcurl, raw: no decoding, the bytes as they came.
reply post(const std::string& url, const std::string& body,
           std::vector<std::string> extra = {}, latch* on_first = nullptr) {
  struct sink {
    reply* r;
    latch* first;
  };
  reply r;
  sink s{&r, on_first};
  auto* c = curl_easy_init();
  curl_slist* hs = nullptr;
  extra.push_back("content-type: application/json");
  for (auto& h : extra)
    hs = curl_slist_append(hs, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION,
                   +[](char* d, size_t a, size_t b, void* p) -> size_t {
                     auto* s = static_cast<sink*>(p);
                     s->r->body.append(d, a * b);
                     if (s->first && s->r->body.size() >= first_event.size())
                       s->first->release();
                     return a * b;
                   });
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION,
                   +[](char* d, size_t a, size_t b, void* p) -> size_t {
                     static_cast<std::string*>(p)->append(d, a * b);
                     return a * b;
                   });
  curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(hs);
  curl_easy_cleanup(c);
  return r;
}

const std::string stream_request =
  R"({"model":"claude-sonnet-4-5","max_tokens":2048,"stream":true,)"
  R"("messages":[{"role":"user","content":"hello there, how are you today?"}]})";

struct fixture : ::testing::Test {
  upstream api;
  recorded rec;
  std::unique_ptr<gateway> gw;
  void SetUp() override {
    gateway_settings s;
    s.upstream = "http://127.0.0.1:" + std::to_string(api.port);
    gw = std::make_unique<gateway>(s, hooks_for(rec));
    std::string err;
    ASSERT_TRUE(gw->start(err)) << err;
  }
};

} // namespace

TEST_F(fixture, a_stream_passes_byte_for_byte_as_it_arrives) {
  auto r = post(gw->url() + "/v1/messages?beta=true", stream_request,
                {"x-api-key: sk-secret-key", "accept-encoding: gzip, br",
                 "x-troupe-task: worker=marie;task=t1;attempt=1;prio=high"},
                &api.client_has_first);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, first_event + rest_of_stream);
  EXPECT_TRUE(api.streamed_in_time) << "the first event was held back";
  EXPECT_NE(r.headers.find("text/event-stream"), std::string::npos);
  EXPECT_NE(r.headers.find("request-id: req_1"), std::string::npos);
  EXPECT_EQ(r.headers.find("ontent-encoding"), std::string::npos);
  gw->stop(); // every exchange is over
  std::lock_guard<std::mutex> g{rec.mx};
  // Held on its own figures, for its worker and priority.
  ASSERT_EQ(rec.asked.size(), 1u);
  EXPECT_EQ(rec.asked[0].worker, "marie");
  EXPECT_EQ(rec.asked[0].prio, priority::high);
  EXPECT_TRUE(rec.asked[0].exact);
  EXPECT_DOUBLE_EQ(rec.asked[0].output_tokens, 2048);
  EXPECT_GT(rec.asked[0].input_tokens, 10);
  // Settled with what the stream said it used.
  ASSERT_EQ(rec.settled.size(), 1u);
  EXPECT_EQ(rec.settled[0].first, 1);
  EXPECT_EQ(rec.settled[0].second.input_tokens, 40);
  EXPECT_EQ(rec.settled[0].second.output_tokens, 9);
  ASSERT_EQ(rec.calibrated.size(), 1u);
  EXPECT_DOUBLE_EQ(rec.calibrated[0].input_tokens, 7000);
  // The key went upstream; the tag and the client's encodings did not.
  ASSERT_EQ(api.seen.size(), 1u);
  auto& h = api.seen[0];
  EXPECT_EQ(h.find("x-api-key")->second, "sk-secret-key");
  EXPECT_EQ(h.count("x-troupe-task"), 0u);
  EXPECT_EQ(h.count("Accept-Encoding") + h.count("accept-encoding"), 0u);
  ASSERT_EQ(rec.notes.size(), 1u);
  EXPECT_EQ(rec.notes[0].task_id, "t1");
  EXPECT_TRUE(rec.notes[0].streamed);
}

TEST_F(fixture, a_whole_answer_is_not_re_encoded) {
  auto body = R"({"model":"claude-sonnet-4-5","max_tokens":100,"messages":[]})";
  auto r = post(gw->url() + "/v1/messages", body, {"accept-encoding: gzip, br"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"id":"m","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":30,"output_tokens":4}})");
  EXPECT_EQ(r.headers.find("ontent-encoding"), std::string::npos);
  gw->stop();
  ASSERT_EQ(rec.settled.size(), 1u);
  EXPECT_EQ(rec.settled[0].second.output_tokens, 4);
  EXPECT_EQ(rec.asked[0].worker, ""); // untagged: nobody's
}

TEST_F(fixture, a_429_with_retry_after_is_waited_out_at_the_gateway) {
  api.refuse_first = 2;
  auto r = post(gw->url() + "/v1/messages", stream_request, {}, &api.client_has_first);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, first_event + rest_of_stream);
  gw->stop();
  // Every worker waits (cool_down), the request is held again, and the
  // refused sends are settled as nothing used.
  EXPECT_EQ(rec.cooled, (std::vector<int64_t>{1, 1}));
  ASSERT_EQ(rec.asked.size(), 3u);
  ASSERT_EQ(rec.settled.size(), 3u);
  EXPECT_EQ(rec.settled[0].first, 0);
  EXPECT_EQ(rec.settled[1].first, 0);
  EXPECT_EQ(rec.settled[2].second.output_tokens, 9);
  EXPECT_EQ(rec.notes.at(0).retried, 2);
}

TEST_F(fixture, a_429_past_the_gateways_retries_reaches_the_cli) {
  api.refuse_first = 10;
  auto r = post(gw->url() + "/v1/messages", stream_request);
  EXPECT_EQ(r.status, 429);
  EXPECT_NE(r.body.find("rate_limit_error"), std::string::npos);
  EXPECT_NE(r.headers.find("retry-after: 0"), std::string::npos);
}

TEST_F(fixture, a_refused_key_is_refused_again_here_without_the_api) {
  api.refuse_all = 401;
  api.refusal_body = R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})";
  auto send = [&](const char* key, int attempt) {
    return post(gw->url() + "/v1/messages", stream_request,
                {std::string{"x-api-key: "} + key,
                 "x-troupe-task: worker=marie;task=t1;attempt=" + std::to_string(attempt)});
  };
  auto first = send("sk-bad", 1);
  ASSERT_TRUE(rec.await_notes(1)); // so that the notes come in order
  auto again = send("sk-bad", 1); // the CLI's own retry
  EXPECT_EQ(first.status, 401);
  EXPECT_EQ(again.status, 401);
  EXPECT_EQ(again.body, first.body); // the API's words, as it said them
  {
    std::lock_guard<std::mutex> g{api.mx};
    EXPECT_EQ(api.seen.size(), 1u);
  }
  // Another key, or the next attempt, is the API's to judge again.
  EXPECT_EQ(send("sk-other", 1).status, 401);
  EXPECT_EQ(send("sk-bad", 2).status, 401);
  gw->stop();
  EXPECT_EQ(api.seen.size(), 3u);
  std::lock_guard<std::mutex> g{rec.mx};
  ASSERT_EQ(rec.notes.size(), 4u);
  EXPECT_FALSE(rec.notes[0].repeated);
  EXPECT_TRUE(rec.notes[1].repeated);
  EXPECT_EQ(rec.asked.size(), 3u); // the repeat was not held either
}

TEST_F(fixture, a_spend_limit_is_answered_again_but_a_plain_400_is_not) {
  api.refuse_all = 400;
  api.refusal_body = R"({"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits. You will regain access on 2027-01-01 at 00:00 UTC."}})";
  const std::vector<std::string> tag{"x-api-key: sk-k", "x-troupe-task: worker=marie;task=t2;attempt=1"};
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(post(gw->url() + "/v1/messages", stream_request, tag).status, 400);
  {
    std::lock_guard<std::mutex> g{api.mx};
    EXPECT_EQ(api.seen.size(), 1u);
  }
  // A 400 about the request itself may not repeat: each goes upstream.
  api.refusal_body = R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}})";
  const std::vector<std::string> other{"x-api-key: sk-k", "x-troupe-task: worker=marie;task=t3;attempt=1"};
  post(gw->url() + "/v1/messages", stream_request, other);
  post(gw->url() + "/v1/messages", stream_request, other);
  gw->stop();
  EXPECT_EQ(api.seen.size(), 3u);
}

TEST(gateway, an_unreachable_upstream_is_an_api_shaped_502) {
  recorded rec;
  gateway_settings s;
  s.upstream = "http://127.0.0.1:1"; // nothing listens on port 1
  gateway gw{s, hooks_for(rec)};
  std::string err;
  ASSERT_TRUE(gw.start(err)) << err;
  auto r = post(gw.url() + "/v1/messages", stream_request);
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("\"type\":\"api_error\""), std::string::npos);
  EXPECT_NE(r.body.find("troupe gateway: upstream"), std::string::npos);
  gw.stop();
  ASSERT_EQ(rec.settled.size(), 1u);
  EXPECT_EQ(rec.settled[0].first, 0); // nothing reached the API
}

TEST(gateway, a_limiter_that_cannot_grant_is_a_503) {
  gateway_hooks h;
  h.acquire = [](permit_ask) -> std::optional<permit_ask> { return std::nullopt; };
  gateway_settings s;
  s.upstream = "http://127.0.0.1:1";
  gateway gw{s, h};
  std::string err;
  ASSERT_TRUE(gw.start(err));
  auto r = post(gw.url() + "/v1/messages", stream_request);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("no permit"), std::string::npos);
}

TEST(gateway, a_port_in_use_is_an_error) {
  upstream api; // holds its port
  gateway_settings s;
  s.port = api.port;
  gateway gw{s, {}};
  std::string err;
  EXPECT_FALSE(gw.start(err));
  EXPECT_NE(err.find(std::to_string(api.port)), std::string::npos);
}

TEST_F(fixture, a_request_past_its_tasks_budget_is_refused_before_upstream) {
  // The first answer costs 40 input and 9 output tokens at Sonnet's price,
  // $0.000255; the next would cost about as much again.
  std::vector<std::string> tagged{
    "x-troupe-task: worker=marie;task=t1;attempt=1;prio=medium;budget=0.0004"};
  auto first = post(gw->url() + "/v1/messages", stream_request, tagged,
                    &api.client_has_first);
  EXPECT_EQ(first.status, 200);
  auto second = post(gw->url() + "/v1/messages", stream_request, tagged);
  EXPECT_EQ(second.status, 400);
  EXPECT_NE(second.body.find("invalid_request_error"), std::string::npos);
  EXPECT_NE(second.body.find(gateway_budget_error), std::string::npos) << second.body;
  EXPECT_NE(second.body.find("has spent $0.0003 of its $0.0004 budget in 1 requests"),
            std::string::npos) << second.body;
  // Another attempt of the task has a budget of its own.
  tagged[0] = "x-troupe-task: worker=marie;task=t1;attempt=2;prio=medium;budget=0.0004";
  api.client_has_first.open = false;
  auto retry = post(gw->url() + "/v1/messages", stream_request, tagged,
                    &api.client_has_first);
  EXPECT_EQ(retry.status, 200);
  gw->stop();
  std::lock_guard<std::mutex> g{rec.mx};
  EXPECT_EQ(api.seen.size(), 2u); // the refused one never went upstream
  EXPECT_EQ(rec.asked.size(), 2u); // nor was it held for a permit
  ASSERT_EQ(rec.notes.size(), 3u);
  EXPECT_NEAR(rec.notes[0].cost_usd, 0.000255, 1e-9);
  EXPECT_TRUE(rec.notes[1].budget_refused);
  EXPECT_FALSE(rec.notes[2].budget_refused);
}

namespace {
int64_t unix_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}
} // namespace

TEST_F(fixture, a_rejecting_window_parks_the_account_and_is_waited_out) {
  api.refuse_first = 1;
  api.window_reset_s = unix_s() + 2;
  auto r = post(gw->url() + "/v1/messages", stream_request,
                {"x-troupe-task: worker=marie;task=t1;attempt=1"}, &api.client_has_first);
  EXPECT_EQ(r.status, 200) << "a reset within window_wait_s is waited out";
  gw->stop();
  std::lock_guard<std::mutex> g{rec.mx};
  // The whole account waits, until the reset; no model class is emptied.
  ASSERT_EQ(rec.cooled_models, std::vector<std::string>{every_model});
  EXPECT_GT(rec.cooled[0], 0);
  EXPECT_LE(rec.cooled[0], 2000);
  // Held twice: the limiter's grant is the wait.
  EXPECT_EQ(rec.asked.size(), 2u);
  ASSERT_EQ(rec.notes.size(), 1u);
  EXPECT_EQ(rec.notes[0].retried, 1);
  EXPECT_NE(rec.notes[0].parked.find("five_hour window, resets "), std::string::npos)
    << rec.notes[0].parked;
  ASSERT_TRUE(rec.notes[0].park);
  EXPECT_EQ(rec.notes[0].park->until_ms, api.window_reset_s * 1000);
}

TEST_F(fixture, a_window_that_resets_hours_later_reaches_the_cli) {
  api.refuse_first = 1;
  api.window_reset_s = unix_s() + 3 * 3600;
  auto r = post(gw->url() + "/v1/messages", stream_request, {});
  EXPECT_EQ(r.status, 429);
  EXPECT_NE(r.headers.find("anthropic-ratelimit-unified-status: rejected"), std::string::npos);
  gw->stop();
  std::lock_guard<std::mutex> g{rec.mx};
  ASSERT_EQ(rec.cooled_models, std::vector<std::string>{every_model});
  EXPECT_GT(rec.cooled[0], (3 * 3600 - 5) * 1000);
  EXPECT_EQ(rec.asked.size(), 1u);
}

namespace {
std::string read_all(const std::filesystem::path& p) {
  std::ifstream in{p};
  return {std::istreambuf_iterator<char>(in), {}};
}
} // namespace

TEST(gateway, a_recorded_stream_replays_byte_for_byte_without_the_api) {
  char tmpl[] = "/tmp/troupe-rec-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  auto run = [&](bool record, const std::string& upstream_url) {
    recorded rec;
    gateway_settings s;
    s.upstream = upstream_url;
    (record ? s.record_dir : s.replay_dir) = dir;
    s.volatile_paths = {record ? "/tmp/root-a" : "/tmp/root-b"};
    gateway gw{s, hooks_for(rec)};
    std::string err;
    EXPECT_TRUE(gw.start(err)) << err;
    auto root = record ? "/tmp/root-a" : "/tmp/root-b";
    auto body = R"({"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[)"
                R"({"role":"user","content":"look in )" + std::string{root} + R"("}]})";
    auto r = post(gw.url() + "/v1/messages", body, {"x-api-key: sk-never-recorded"});
    gw.stop();
    std::lock_guard<std::mutex> g{rec.mx};
    EXPECT_EQ(rec.notes.size(), 1u);
    if (!rec.notes.empty()) {
      EXPECT_EQ(rec.notes[0].recorded, record);
      EXPECT_EQ(rec.notes[0].replayed, !record);
    }
    // A replay holds nothing on the limiter: it costs nothing.
    EXPECT_EQ(rec.asked.size(), record ? 1u : 0u);
    return r;
  };
  reply first;
  {
    upstream api;
    api.client_has_first.release(); // nobody waits in this test
    first = run(true, "http://127.0.0.1:" + std::to_string(api.port));
  }
  // The API is gone: its port is closed.
  auto again = run(false, "http://127.0.0.1:1");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first_event + rest_of_stream);
  EXPECT_EQ(again.body, first.body);
  EXPECT_NE(again.headers.find("text/event-stream"), std::string::npos);
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    auto text = read_all(e.path());
    EXPECT_EQ(text.find("sk-never-recorded"), std::string::npos);
    EXPECT_NE(text.find(R"("x-api-key": "[redacted]")"), std::string::npos) << text;
  }
  EXPECT_EQ(files, 1u);
  std::filesystem::remove_all(dir);
}

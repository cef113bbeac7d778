#include "core/api_exchange.hpp"

#include <gtest/gtest.h>

using namespace troupe;

TEST(task_tag, round_trips_any_task_id) {
  task_tag t{"marie", "t;1=é %x", 2, priority::high, std::nullopt};
  auto v = format_task_tag(t);
  EXPECT_EQ(v.find_first_of(";=", v.find("task=") + 5), v.find(";attempt"));
  auto back = parse_task_tag(v);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->worker, "marie");
  EXPECT_EQ(back->task_id, "t;1=é %x");
  EXPECT_EQ(back->attempt, 2);
  EXPECT_EQ(back->prio, priority::high);
}

TEST(task_tag, refuses_what_is_no_tag) {
  EXPECT_FALSE(parse_task_tag(""));
  EXPECT_FALSE(parse_task_tag("worker=marie")); // no task
  EXPECT_FALSE(parse_task_tag("worker=marie;task=t;attempt=0"));
  EXPECT_FALSE(parse_task_tag("worker=marie;task=t;prio=urgent"));
  EXPECT_FALSE(parse_task_tag("worker=marie;task=t%2"));
  EXPECT_FALSE(parse_task_tag("worker=;task=t"));
  EXPECT_FALSE(parse_task_tag("worker=m;task=t;budget=0"));
  EXPECT_FALSE(parse_task_tag("worker=m;task=t;budget=-1"));
  EXPECT_FALSE(parse_task_tag("worker=m;task=t;budget=1usd"));
  // A newer troupe's keys are ignored.
  EXPECT_TRUE(parse_task_tag("worker=m;task=t;color=3"));
}

TEST(task_tag, carries_a_budget_however_small) {
  for (double b : {3.0, 0.05, 1e-7, 1234.5678}) {
    task_tag t{"marie", "t1", 1, priority::medium, b};
    auto back = parse_task_tag(format_task_tag(t));
    ASSERT_TRUE(back && back->budget_usd) << format_task_tag(t);
    EXPECT_DOUBLE_EQ(*back->budget_usd, b);
  }
  EXPECT_EQ(format_task_tag(task_tag{"m", "t", 1, priority::medium, std::nullopt}).find("budget"), std::string::npos);
  EXPECT_FALSE(parse_task_tag("worker=m;task=t")->budget_usd);
}

namespace {

const std::string stream =
  "event: message_start\r\n"
  "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":"
  "{\"input_tokens\":12,\"cache_creation_input_tokens\":300,"
  "\"cache_read_input_tokens\":4000,\"output_tokens\":1}}}\r\n\r\n"
  "event: ping\ndata: {\"type\": \"ping\"}\n\n"
  "event: content_block_delta\ndata: {\"delta\":{\"text\":\"usage\"}}\n\n"
  "event: message_delta\ndata: {\"usage\":{\"output_tokens\":57}}\n\n"
  "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

} // namespace

TEST(sse_usage_reader, reads_the_usage_however_the_stream_is_cut) {
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    sse_usage_reader r;
    r.feed(std::string_view{stream}.substr(0, cut));
    r.feed(std::string_view{stream}.substr(cut));
    ASSERT_TRUE(r.started()) << cut;
    EXPECT_EQ(r.used().input_tokens, 12);
    EXPECT_EQ(r.used().cache_creation_input_tokens, 300);
    EXPECT_EQ(r.used().cache_read_input_tokens, 4000);
    EXPECT_EQ(r.used().output_tokens, 57) << cut;
    EXPECT_EQ(r.used().metered_input(), 312);
  }
  sse_usage_reader bytes; // one byte at a time
  for (char c : stream)
    bytes.feed(std::string_view{&c, 1});
  EXPECT_EQ(bytes.used().output_tokens, 57);
}

TEST(sse_usage_reader, tells_an_error_event_and_survives_garbage) {
  sse_usage_reader r;
  r.feed("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
         "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
  EXPECT_EQ(r.error_type(), "overloaded_error");
  EXPECT_FALSE(r.started());
  sse_usage_reader g;
  g.feed("event: message_start\ndata: {not json\n\nevent: message_delta\n"
         "data: {\"usage\": {\"output_tokens\": \"many\"}}\n\n");
  EXPECT_FALSE(g.started());
  EXPECT_EQ(g.used().output_tokens, 0);
  // A line past the cap is dropped, not kept growing.
  sse_usage_reader big;
  big.feed("data: " + std::string(3u << 20, 'x'));
  big.feed("\n\n" + stream);
  EXPECT_EQ(big.used().output_tokens, 57);
}

TEST(usage_of_message, reads_a_whole_answer) {
  auto u = usage_of_message(R"({"id":"m","usage":{"input_tokens":5,"output_tokens":7}})");
  EXPECT_EQ(u.input_tokens, 5);
  EXPECT_EQ(u.output_tokens, 7);
  EXPECT_EQ(usage_of_message("{\"type\":\"error\"}").input_tokens, 0);
  EXPECT_EQ(usage_of_message("[1").output_tokens, 0);
}

TEST(limit_headers, read_what_remains_of_each_meter) {
  limits_left l;
  EXPECT_FALSE(l.any());
  EXPECT_TRUE(read_limit_header("anthropic-ratelimit-input-tokens-remaining", "4000", l));
  EXPECT_TRUE(read_limit_header("Anthropic-RateLimit-Requests-Remaining", " 49 ", l));
  EXPECT_TRUE(read_limit_header("anthropic-ratelimit-output-tokens-remaining", "0", l));
  EXPECT_FALSE(read_limit_header("anthropic-ratelimit-input-tokens-limit", "8000", l));
  EXPECT_FALSE(read_limit_header("anthropic-ratelimit-tokens-remaining", "1", l));
  EXPECT_FALSE(read_limit_header("anthropic-ratelimit-input-tokens-remaining", "-3", l));
  EXPECT_FALSE(read_limit_header("anthropic-ratelimit-input-tokens-remaining", "1e3", l));
  EXPECT_DOUBLE_EQ(l.input_tokens, 4000);
  EXPECT_DOUBLE_EQ(l.requests, 49);
  EXPECT_DOUBLE_EQ(l.output_tokens, 0);
}

TEST(retry_after, reads_seconds) {
  EXPECT_EQ(retry_after_ms("2"), 2000);
  EXPECT_EQ(retry_after_ms(" 0.5 "), 500);
  EXPECT_EQ(retry_after_ms("99999999"), 86400000);
  EXPECT_FALSE(retry_after_ms(""));
  EXPECT_FALSE(retry_after_ms("soon"));
  EXPECT_FALSE(retry_after_ms("-1"));
  EXPECT_FALSE(retry_after_ms("Wed, 21 Oct 2026 07:28:00 GMT"));
}

TEST(final_refusal, only_what_a_retry_with_the_same_key_cannot_change) {
  EXPECT_TRUE(final_refusal(401, R"({"error":{"type":"authentication_error"}})"));
  EXPECT_TRUE(final_refusal(403, "{}"));
  EXPECT_TRUE(final_refusal(
    400, R"({"error":{"message":"You have reached your specified API usage limits."}})"));
  EXPECT_TRUE(final_refusal(
    429, R"({"error":{"message":"enforced_spend_limit_reached: ..."}})"));
  // A rate limit, an overload, a request of the wrong shape: a retry may pass.
  EXPECT_FALSE(final_refusal(429, R"({"error":{"type":"rate_limit_error"}})"));
  EXPECT_FALSE(final_refusal(529, "{}"));
  EXPECT_FALSE(final_refusal(400, R"({"error":{"message":"max_tokens: too large"}})"));
  EXPECT_FALSE(final_refusal(200, "usage limits"));
}

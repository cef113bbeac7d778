#include "core/prompt_cache.hpp"

#include <gtest/gtest.h>

#include "core/json_codec.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

// A CLI-like request: tools, a system prompt ending in a breakpoint, and
// a conversation whose last block is one too.
json request(const std::string& task, int turns) {
  json tools = json::array();
  for (int i = 0; i < 5; ++i)
    tools.push_back({{"name", "Tool" + std::to_string(i)},
                     {"input_schema", {{"description", std::string(2000, 'x')}}}});
  json system = json::array({
    {{"type", "text"}, {"text", "x-anthropic-billing-header: cc_version=1; fp=" + task}},
    {{"type", "text"}, {"text", std::string(4000, 's')},
     {"cache_control", {{"type", "ephemeral"}}}}});
  json messages = json::array();
  messages.push_back({{"role", "user"}, {"content", "Do " + task}});
  for (int i = 1; i < turns; ++i) {
    messages.push_back({{"role", "assistant"}, {"content", "step " + std::to_string(i)}});
    messages.push_back({{"role", "user"}, {"content", "result " + std::to_string(i)}});
  }
  messages.back()["content"] = json::array(
    {{{"type", "text"}, {"text", messages.back()["content"].get<std::string>()},
      {"cache_control", {{"type", "ephemeral"}}}}});
  return {{"model", "claude-sonnet-4-5"}, {"max_tokens", 32000}, {"stream", true},
          {"tools", tools}, {"system", system}, {"messages", messages}};
}

request_shape shape(const json& j) {
  auto s = shape_of_request(j.dump());
  EXPECT_TRUE(s);
  return s ? *s : request_shape{};
}

} // namespace

TEST(prompt_cache, reads_what_the_api_meters_a_request_by) {
  auto s = shape(request("a", 1));
  EXPECT_EQ(s.model, "claude-sonnet-4-5");
  EXPECT_TRUE(s.stream);
  EXPECT_DOUBLE_EQ(s.max_tokens, 32000);
  EXPECT_EQ(s.marks.size(), 2u);
  EXPECT_GT(s.bytes, 14000u);
  EXPECT_FALSE(shape_of_request("not json"));
  EXPECT_FALSE(shape_of_request("[1,2]"));
  // Fields of the wrong type are no crash: nothing is metered by them.
  auto odd = shape_of_request(R"({"model": 3, "max_tokens": "x", "messages": [1, {"content": 2}]})");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->max_tokens, 0);
}

TEST(prompt_cache, a_cold_request_is_metered_whole_a_warm_one_past_its_prefix) {
  steady_time t0{};
  prompt_cache c;
  auto first = shape(request("a", 1));
  EXPECT_DOUBLE_EQ(c.metered_estimate(first, t0), tokens_of_bytes(first.bytes));
  c.store(first, t0);
  // The next turn of the same conversation reads all it had.
  auto second = shape(request("a", 2));
  auto expect = tokens_of_bytes(second.bytes - first.marks.back().second);
  EXPECT_DOUBLE_EQ(c.metered_estimate(second, t0 + 1s), expect);
  // Another task shares the tools and the system prompt, though its
  // attribution line differs.
  auto other = shape(request("b", 1));
  EXPECT_DOUBLE_EQ(c.metered_estimate(other, t0 + 1s),
                   tokens_of_bytes(other.bytes - first.marks.front().second));
  // Five minutes after its last use the prefix is gone.
  EXPECT_DOUBLE_EQ(c.metered_estimate(second, t0 + 5min + 1s),
                   tokens_of_bytes(second.bytes));
}

TEST(prompt_cache, use_keeps_a_prefix_and_expired_ones_are_dropped) {
  steady_time t0{};
  prompt_cache c;
  auto a = shape(request("a", 1));
  c.store(a, t0);
  c.store(shape(request("a", 2)), t0 + 4min); // refreshes the shared prefix
  EXPECT_LT(c.metered_estimate(a, t0 + 8min), tokens_of_bytes(a.bytes));
  c.store(shape(request("c", 1)), t0 + 20min);
  EXPECT_EQ(c.size(), 2u); // only c's two prefixes live
  // Seeded by another account, the same prompt shares nothing.
  auto other = shape_of_request(request("a", 1).dump(), "account-2");
  EXPECT_DOUBLE_EQ(c.metered_estimate(*other, t0 + 20min), tokens_of_bytes(other->bytes));
}

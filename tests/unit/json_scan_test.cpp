// Reading JSON in place (bridge/json_scan): the same verdict as a full
// parser on valid and invalid text, members and strings as they are.

#include "bridge/zmq/json_scan.hpp"
#include "core/json_codec.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <vector>

using namespace troupe;

namespace {

bool nlohmann_accepts(const std::string& s) {
  return nlohmann::json::accept(s);
}

} // namespace

TEST(json_scan, agrees_with_a_full_parser_on_what_is_json) {
  std::vector<std::string> texts = {
    "{}", "[]", " { } ", "0", "-0", "12", "-3.25e+10", "1E5", "0.5", "true", "false",
    "null", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"\\u00e9\\ud83d\\ude00\"",
    R"({"a":1,"b":[1,2,{"c":null}],"d":{"e":"f"}})", R"([[],[[]],{"x":[true,false]}])",
    // invalid
    "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "-", "1.", ".5",
    "1e", "+1", "tru", "nul", "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\ud83d\"",
    "\"\\ude00\"", "[1 2]", "{\"a\":1}}", "[\"a\"\"b\"]", "\"tab\there\"",
    "{\"a\":1} x", "NaN", "[1,,2]", "{,}",
  };
  for (auto& t : texts)
    EXPECT_EQ(jscan::is_value(t), nlohmann_accepts(t)) << t;
}

TEST(json_scan, a_value_ends_where_it_ends) {
  std::string s = R"({"a":"}"} , [1])";
  auto end = jscan::skip_value(s);
  ASSERT_NE(end, jscan::npos);
  EXPECT_EQ(s.substr(0, end), R"({"a":"}"})");
  EXPECT_EQ(jscan::skip_value(s, end + 3), s.size());
}

TEST(json_scan, a_cursor_reads_members_with_keys_decoded_and_values_raw) {
  std::string s = R"( {"ticket": "42", "tick\u0065t2" : 7, "result": {"task_id": "t1", "n": [1, 2]}} )";
  jscan::cursor c{s};
  std::map<std::string, std::string> seen;
  std::string key;
  ASSERT_TRUE(c.enter_object());
  while (c.next_member(key))
    seen[key] = std::string{c.skip()};
  EXPECT_TRUE(c.done());
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen["ticket"], "\"42\"");
  EXPECT_EQ(seen["ticket2"], "7");
  EXPECT_EQ(seen["result"], R"({"task_id": "t1", "n": [1, 2]})");
  EXPECT_EQ(nlohmann::json::parse(seen["result"])["task_id"], "t1");
}

TEST(json_scan, a_cursor_walks_nested_containers_in_one_pass) {
  std::string s = R"({"results": [{"ticket": "1", "result": {"error": {"kind": "stopping"}}},
                                  {"ticket": "2", "result": {"error": null}}, 3], "after": true})";
  jscan::cursor c{s};
  std::vector<std::string> tickets, kinds;
  int others = 0;
  std::string key, k2, k3;
  ASSERT_TRUE(c.enter_object());
  while (c.next_member(key)) {
    if (key != "results" || !c.enter_array()) {
      c.skip();
      continue;
    }
    while (c.next_element()) {
      if (!c.enter_object()) {
        c.skip();
        ++others;
        continue;
      }
      while (c.next_member(k2)) {
        if (k2 == "ticket") {
          tickets.push_back(c.string().value_or("?"));
        } else if (k2 == "result" && c.enter_object()) {
          while (c.next_member(k3))
            if (k3 == "error" && c.enter_object()) {
              std::string k4;
              while (c.next_member(k4))
                kinds.push_back(c.string().value_or("?"));
            } else {
              c.skip();
            }
        } else {
          c.skip();
        }
      }
    }
  }
  EXPECT_TRUE(c.done());
  EXPECT_EQ(tickets, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(kinds, std::vector<std::string>{"stopping"});
  EXPECT_EQ(others, 1);
}

TEST(json_scan, a_cursor_fails_for_good_on_bad_text) {
  for (std::string bad : {R"({"a":1,})", R"({"a" 1})", R"({"a":1} x)", R"({"a":[1,]})",
                          R"({"a":"\x"})", R"({"a":1)"}) {
    jscan::cursor c{bad};
    std::string key;
    ASSERT_TRUE(c.enter_object()) << bad;
    while (c.next_member(key))
      if (!c.enter_array())
        c.skip();
      else
        while (c.next_element())
          c.skip();
    EXPECT_FALSE(c.done()) << bad;
  }
  jscan::cursor c{"[1]"};
  EXPECT_FALSE(c.enter_object()); // not an object: nothing is consumed
  EXPECT_TRUE(c.enter_array());
  EXPECT_TRUE(c.next_element());
  EXPECT_FALSE(c.string()); // a number, skipped
  EXPECT_FALSE(c.next_element());
  EXPECT_TRUE(c.done());
}

TEST(json_scan, strings_decode_as_a_full_parser_decodes_them) {
  for (std::string raw : {R"("plain")", R"("a\"b\\c\/d\n\t")", R"("\u00e9t\u00e9 \ud83d\ude00")",
                          R"("")", R"("\u0000x")"}) {
    auto v = jscan::string_value(raw);
    ASSERT_TRUE(v) << raw;
    EXPECT_EQ(*v, nlohmann::json::parse(raw).get<std::string>()) << raw;
  }
  EXPECT_FALSE(jscan::string_value("42"));
  EXPECT_FALSE(jscan::string_value(R"("a" "b")"));
  EXPECT_FALSE(jscan::string_value(R"("\ud83d")"));
}

TEST(json_scan, deep_nesting_is_refused_not_a_crash) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  EXPECT_EQ(jscan::skip_value(deep), jscan::npos);
  // The limit every decoder of ours shares (core/json_codec.hpp).
  std::string ok(troupe::max_json_depth, '[');
  ok += std::string(troupe::max_json_depth, ']');
  EXPECT_EQ(jscan::skip_value(ok), ok.size());
  auto over = "[" + ok + "]";
  EXPECT_EQ(jscan::skip_value(over), jscan::npos);
}

// Tasks and results written straight to JSON text (core/json_text) read back
// as what to_json() describes.

#include "core/json_text.hpp"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "core/json_codec.hpp"

using namespace troupe;

namespace {

task full_task() {
  task t;
  t.task_id = "t-1.x";
  t.worker = "marie";
  t.description = "Quote \"this\", a back\\slash, a tab\t, a newline\n, a bell\x07 and \x1f.";
  t.dependencies = {"a", "b"};
  t.prio = priority::high;
  t.context = {{"student", "Émilie"}, {"levels", {1, 2.5, nullptr}}};
  t.timeout_s = 30;
  t.max_attempts = 3;
  t.model = "claude-sonnet-4-5";
  t.budget_usd = 0.25;
  t.extra = {{"origin", "script"}, {"worker", "not-this-one"}}; // a known key is not overridden
  return t;
}

result full_result() {
  result r;
  r.task_id = "t-1.x";
  r.state = status::failed;
  r.worker = "marie";
  r.completed_at = "2026-11-24T09:00:00.000Z";
  r.artifacts = {"out/a.md"};
  r.summary = "Résumé — ✓ with emoji 😀 and \"quotes\"";
  r.findings = {"one", "two\nlines"};
  r.attempt = 2;
  r.duration_ms = 1234;
  r.model = "claude-sonnet-4-5";
  r.session_id = "s-1";
  r.tokens = {1540, 400, 12, 7};
  r.cost_usd = 0.01062;
  r.error = error_info{"timeout", "ran over 30 s"};
  r.simulated = true;
  r.extra = {{"num_turns", 3}, {"status", "ignored"}};
  return r;
}

template <class T>
json written(const T& x) {
  std::string out;
  append_json(out, x);
  return json::parse(out);
}

} // namespace

TEST(json_text, a_task_reads_back_as_to_json_describes_it) {
  EXPECT_EQ(written(full_task()), to_json(full_task()));
  task bare;
  bare.task_id = "b";
  bare.worker = "anga";
  bare.description = "d";
  EXPECT_EQ(written(bare), to_json(bare));
  problems ps;
  auto back = task_from_json(written(full_task()), ps);
  ASSERT_TRUE(back) << ps.at(0);
  EXPECT_EQ(back->description, full_task().description);
  EXPECT_EQ(back->extra, json({{"origin", "script"}}));
}

TEST(json_text, a_result_reads_back_as_to_json_describes_it) {
  EXPECT_EQ(written(full_result()), to_json(full_result()));
  result bare;
  bare.task_id = "b";
  bare.state = status::complete;
  EXPECT_EQ(written(bare), to_json(bare));
  problems ps;
  auto back = result_from_json(written(full_result()), ps);
  ASSERT_TRUE(back) << ps.at(0);
  EXPECT_EQ(back->summary, full_result().summary);
  EXPECT_EQ(back->cost_usd, 0.01062);
  EXPECT_EQ(back->error->message, "ran over 30 s");
}

TEST(json_text, strings_escape_as_nlohmann_escapes_them) {
  for (std::string s : std::vector<std::string>{"", "plain", "\"\\/", "\b\f\n\r\t", std::string("\0\x01\x1f\x7f", 4),
                        "é ✓ 😀"}) {
    std::string out;
    append_json_string(out, s);
    EXPECT_EQ(out, json(s).dump());
  }
  std::string out;
  EXPECT_THROW(append_json_string(out, "\xff\xfe"), json::type_error); // as dump() does
}

TEST(json_text, a_number_that_is_not_finite_is_written_null) {
  result r;
  r.task_id = "n";
  r.state = status::complete;
  r.cost_usd = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(written(r)["cost_usd"].is_null());
  EXPECT_TRUE(json::parse(to_json(r).dump())["cost_usd"].is_null());
}

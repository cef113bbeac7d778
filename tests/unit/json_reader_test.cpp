// Reading a JSON object field by field: every wrong field is one problem
// that names it, nothing throws.

#include "core/json_reader.hpp"

#include <gtest/gtest.h>

using namespace troupe;

TEST(json_reader, each_wrong_field_is_one_problem_that_names_it) {
  auto j = json::parse(R"({"n": "two", "s": 5, "b": 1, "x": -1, "ok": 3})");
  problems ps;
  int64_t n = 1, ok = 0;
  std::string s;
  bool b = false;
  double x = 0;
  {
    json_reader r{j, "cfg", ps};
    r.integer("n", n, 1, 10);
    r.str("s", s);
    r.boolean("b", b);
    r.number("x", x, 0, false);
    r.integer("ok", ok, 1, 10);
    EXPECT_FALSE(r.ok());
  }
  EXPECT_EQ(ps, (problems{"cfg.n \"two\": must be an integer from 1 to 10",
                          "cfg.s 5: must be a non-empty string",
                          "cfg.b 1: must be true or false",
                          "cfg.x -1: must be a number >= 0"}));
  EXPECT_EQ(n, 1); // untouched
  EXPECT_EQ(ok, 3);
}

TEST(json_reader, strict_names_unknown_keys_lenient_ignores_them) {
  auto j = json::parse(R"({"a": 1, "later": true})");
  problems strict, lenient;
  int64_t a = 0;
  {
    json_reader r{j, "", strict};
    r.integer("a", a, 0, 5);
  }
  {
    json_reader r{j, "", lenient, false};
    r.integer("a", a, 0, 5);
  }
  EXPECT_EQ(strict, problems{"later: unknown key"});
  EXPECT_TRUE(lenient.empty());
}

TEST(json_reader, integers_out_of_int64_and_non_objects_are_refused) {
  auto j = json::parse(R"({"big": 18446744073709551615, "f": 1.5})");
  problems ps;
  int64_t v = 0;
  {
    json_reader r{j, "", ps, false};
    r.integer("big", v, 0, INT64_MAX);
    r.integer("f", v, 0, 5);
    EXPECT_FALSE(r.require("missing"));
  }
  EXPECT_EQ(ps.size(), 3u);
  EXPECT_EQ(ps[2], "missing: required");
  problems whole;
  auto array = json::array(); // outlives the reader, which refers to it
  json_reader r{array, "", whole, false};
  EXPECT_EQ(whole, problems{"body: must be an object"});
  EXPECT_EQ(r.get("a"), nullptr);
}

#include "core/json_codec.hpp"

#include <gtest/gtest.h>

using namespace troupe;

namespace {

problems task_problems(const std::string& text) {
  problems ps;
  if (auto j = parse_json_text(text, ps))
    task_from_json(*j, ps);
  return ps;
}

} // namespace

TEST(json_codec, design_example_task_decodes) {
  problems ps;
  auto j = parse_json_text(R"({"task_id": "eval-001", "worker": "marie",
    "description": "Create hip-hop evaluation for Emma Rodriguez",
    "dependencies": [], "priority": "high",
    "context": {"student_name": "Emma Rodriguez", "date": "2025-11-17"}})",
                           ps);
  ASSERT_TRUE(j);
  auto t = task_from_json(*j, ps);
  ASSERT_TRUE(t) << ps[0];
  EXPECT_EQ(t->task_id, "eval-001");
  EXPECT_EQ(t->worker, "marie");
  EXPECT_EQ(t->prio, priority::high);
  EXPECT_EQ(t->context["student_name"], "Emma Rodriguez");
  EXPECT_TRUE(t->dependencies.empty());
}

TEST(json_codec, defaults_and_unknown_fields_kept) {
  problems ps;
  auto t = task_from_json(json::parse(R"({"task_id": "a", "worker": "w",
    "description": "d", "owner": "ops", "tags": [1, 2]})"),
                          ps);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->prio, priority::medium);
  EXPECT_TRUE(t->context.empty());
  EXPECT_EQ(to_json(*t)["context"], json::object());
  auto back = to_json(*t);
  EXPECT_EQ(back["owner"], "ops");
  EXPECT_EQ(back["tags"], json::parse("[1, 2]"));
  EXPECT_EQ(back["priority"], "medium");
}

TEST(json_codec, bad_input_table_gives_exact_reasons) {
  struct row {
    std::string input;
    std::string reason;
  };
  const std::string pattern = "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";
  std::vector<row> table{
    {R"({"task_id": "a", "worker": "w", "description": "d",)",
     "not valid JSON: parse error at line 1, column 52: syntax error while "
     "parsing object key - unexpected end "
     "of input; expected string literal"},
    {R"([1, 2])", "task: must be a JSON object"},
    {R"({"worker": "w", "description": "d"})", "task_id: required"},
    {R"({"task_id": "../x", "worker": "w", "description": "d"})",
     "task_id \"../x\": " + pattern},
    {R"({"task_id": ".hidden", "worker": "w", "description": "d"})",
     "task_id \".hidden\": " + pattern},
    {R"({"task_id": 42, "worker": "w", "description": "d"})",
     "task_id 42: " + pattern},
    {R"({"task_id": "a", "description": "d"})", "worker: required"},
    {R"({"task_id": "a", "worker": "", "description": "d"})",
     "worker \"\": must be a non-empty string"},
    {R"({"task_id": "a", "worker": "w", "description": ["d"]})",
     "description [\"d\"]: must be a non-empty string"},
    {R"({"task_id": "a", "worker": "w", "description": "d", "priority": "urgent"})",
     "priority \"urgent\": must be one of high, medium, low"},
    {R"({"task_id": "a", "worker": "w", "description": "d", "dependencies": "b"})",
     "dependencies \"b\": must be an array of strings"},
    {R"({"task_id": "a", "worker": "w", "description": "d", "dependencies": [1]})",
     "dependencies[0] 1: must be a string"},
    {R"({"task_id": "a", "worker": "w", "description": "d", "dependencies": ["../b"]})",
     "dependencies[0] \"../b\": " + pattern},
    {R"({"task_id": "a", "worker": "w", "description": "d", "context": "x"})",
     "context \"x\": must be an object"},
    {R"({"task_id": "a", "worker": "w", "description": "d", "timeout_s": -1})",
     "timeout_s -1: must be a number > 0"},
    {R"({"task_id": "a", "worker": "w", "description": "d", "max_attempts": 0})",
     "max_attempts 0: must be an integer from 1 to 100"},
  };
  for (auto& r : table) {
    auto ps = task_problems(r.input);
    ASSERT_EQ(ps.size(), 1u) << r.input;
    EXPECT_EQ(ps[0], r.reason) << r.input;
  }
}

TEST(json_codec, every_violation_is_reported_not_just_the_first) {
  auto ps = task_problems(R"({"task_id": "../x", "priority": 3})");
  EXPECT_EQ(ps.size(), 4u); // task_id, worker, description, priority
}

TEST(json_codec, task_id_rule) {
  EXPECT_TRUE(valid_task_id("eval-001"));
  EXPECT_TRUE(valid_task_id("A.b_c-9"));
  EXPECT_TRUE(valid_task_id(std::string(128, 'a')));
  EXPECT_FALSE(valid_task_id(std::string(129, 'a')));
  EXPECT_FALSE(valid_task_id(""));
  EXPECT_FALSE(valid_task_id("-a"));
  EXPECT_FALSE(valid_task_id("a/b"));
  EXPECT_FALSE(valid_task_id("a b"));
  EXPECT_FALSE(valid_task_id("..")); // leading dot
}

TEST(json_codec, result_round_trip) {
  result r;
  r.task_id = "t1";
  r.worker = "anga";
  r.state = status::failed;
  r.summary = "s";
  r.findings = {"f1", "f2"};
  r.artifacts = {"workspaces/anga/review.md"};
  r.tokens.input_tokens = 10;
  r.tokens.cache_read_input_tokens = 5;
  r.cost_usd = 0.25;
  r.error = error_info{"timeout", "killed"};
  r.extra["num_turns"] = 3;
  problems ps;
  auto back = result_from_json(to_json(r), ps);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->state, status::failed);
  EXPECT_EQ(back->findings, r.findings);
  EXPECT_EQ(back->artifacts, r.artifacts);
  EXPECT_EQ(back->tokens, r.tokens);
  ASSERT_TRUE(back->error);
  EXPECT_EQ(back->error->kind, "timeout");
  EXPECT_EQ(back->extra["num_turns"], 3);
  EXPECT_EQ(to_json(*back), to_json(r));
}

TEST(json_codec, workflow_errors_name_the_task) {
  problems ps;
  auto w = workflow_from_json(json::parse(R"({"name": "x", "tasks": [
    {"task_id": "ok", "worker": "w", "description": "d"},
    {"task_id": "bad id", "worker": "w", "description": "d"}]})"),
                              ps);
  EXPECT_FALSE(w);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].rfind("tasks[1].task_id \"bad id\": must match", 0), 0u);
  ps.clear();
  EXPECT_FALSE(workflow_from_json(json::parse(R"({"name": "x", "tasks": []})"), ps));
  EXPECT_EQ(ps.at(0), "tasks []: must be a non-empty array of tasks");
}

TEST(json_codec, an_output_schema_must_be_an_object_and_a_workflows_is_its_tasks) {
  problems ps;
  EXPECT_FALSE(task_from_json(json::parse(R"({"task_id": "a", "worker": "marie",
    "description": "x", "output_schema": "score"})"), ps));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].find("output_schema"), std::string::npos) << ps[0];
  EXPECT_NE(ps[0].find("must be a JSON Schema object"), std::string::npos) << ps[0];
  ps.clear();
  auto wf = workflow_from_json(json::parse(R"({"name": "w",
    "output_schema": {"type": "object", "required": ["score"]},
    "tasks": [{"task_id": "a", "worker": "marie", "description": "x"},
              {"task_id": "b", "worker": "marie", "description": "y",
               "output_schema": {"type": "object"}}]})"), ps);
  ASSERT_TRUE(wf) << ps.at(0);
  ASSERT_TRUE(output_schema_of(wf->tasks[0]));
  EXPECT_EQ((*output_schema_of(wf->tasks[0]))["required"], json({"score"}));
  EXPECT_FALSE(output_schema_of(wf->tasks[1])->contains("required"));
  // It travels with the task, as any field.
  auto back = task_from_json(to_json(wf->tasks[0]), ps);
  ASSERT_TRUE(back);
  EXPECT_TRUE(output_schema_of(*back));
}

TEST(json_codec, documents_nested_too_deep_are_refused_before_parsing) {
  // 100,000 nested arrays (200 KB) would overflow the stack of whatever
  // copies, dumps or compares the parsed value.
  std::string deep(100'000, '[');
  deep += std::string(100'000, ']');
  problems ps;
  EXPECT_FALSE(parse_json_text(deep, ps));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0], "not valid JSON: nested deeper than 128 levels");
  EXPECT_TRUE(parse_json_or_discard(deep).is_discarded());
  // Brackets inside strings are text, not depth.
  auto in_string = "{\"a\":\"" + deep + "\"}";
  EXPECT_TRUE(json_depth_within(in_string));
  std::string escaped = R"({"a":"\"[[[[","b":1})";
  EXPECT_TRUE(json_depth_within(escaped, 1));
  EXPECT_FALSE(json_depth_within("[[1]]", 1));
  std::string limit(max_json_depth, '[');
  limit += std::string(max_json_depth, ']');
  ps.clear();
  EXPECT_TRUE(parse_json_text(limit, ps));
}

TEST(json_codec, a_number_out_of_range_is_a_problem_not_an_exception) {
  problems ps;
  EXPECT_FALSE(parse_json_text(R"({"budget_usd": 1e400})", ps));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].rfind("not valid JSON: number overflow", 0), 0u) << ps[0];
  EXPECT_TRUE(parse_json_or_discard(R"({"a": 1e400})").is_discarded());
}

// Found by fuzz/fuzz_stream_json and a review of every value() call on
// JSON that someone else wrote: a member of another type is no exception.
TEST(json_codec, members_of_another_type_are_ignored_not_thrown) {
  auto j = json::parse(R"({"kind": 5, "ok": "yes", "name": "x"})");
  EXPECT_EQ(string_member(j, "kind"), "");
  EXPECT_EQ(string_member(j, "kind", "?"), "?");
  EXPECT_EQ(string_member(j, "name"), "x");
  EXPECT_EQ(bool_member(j, "ok", false), false);
  EXPECT_EQ(string_member(json::array(), "kind"), "");
  // A result file whose error names its kind with a number.
  problems ps;
  auto r = result_from_json(json::parse(
    R"({"task_id": "a", "worker": "marie", "status": "failed",
        "error": {"kind": 5, "message": ["x"]}})"), ps);
  ASSERT_TRUE(r) << (ps.empty() ? "" : ps[0]);
  ASSERT_TRUE(r->error);
  EXPECT_EQ(r->error->kind, "");
}

// Found by fuzz/fuzz_result (fuzz/regressions/): "output_tokens": 4e41 was
// cast to int64_t, which is undefined behaviour.
TEST(json_codec, numbers_past_int64_saturate) {
  EXPECT_EQ(saturating_int(json::parse("4e41")), INT64_MAX);
  EXPECT_EQ(saturating_int(json::parse("-4e41")), INT64_MIN);
  EXPECT_EQ(saturating_int(json::parse("18446744073709551615")), INT64_MAX);
  EXPECT_EQ(saturating_int(json::parse("150.9")), 150);
  EXPECT_EQ(saturating_int(json::parse("\"7\""), -1), -1);
  EXPECT_EQ(int_member(json::parse(R"({"n": 3})"), "n"), 3);
  problems ps;
  auto r = result_from_json(json::parse(
    R"({"task_id": "a", "worker": "marie", "status": "complete", "duration_ms": 1e300,
        "usage": {"input_tokens": 1540, "output_tokens": 4e41}})"), ps);
  ASSERT_TRUE(r) << (ps.empty() ? "" : ps[0]);
  EXPECT_EQ(r->tokens.output_tokens, INT64_MAX);
  EXPECT_EQ(r->duration_ms, INT64_MAX);
}

#include "core/permissions.hpp"

#include <gtest/gtest.h>

using namespace troupe;

TEST(permission_mode, the_modes_that_stay_in_the_workspace_are_allowed) {
  for (auto m : {"acceptEdits", "dontAsk", "plan", "manual"})
    EXPECT_EQ(check_permission_mode(m), "") << m;
  EXPECT_NE(check_permission_mode("bypassPermissions").find("anywhere"),
            std::string::npos);
  EXPECT_NE(check_permission_mode("auto"), "");
  EXPECT_NE(check_permission_mode("yolo").find("must be one of"),
            std::string::npos);
}

TEST(allowed_rule, rules_that_open_the_filesystem_are_refused) {
  for (auto r : {"Write", "Edit", "MultiEdit", "NotebookEdit", "Write(./**)",
                 "Edit(//tmp/**)", "Bash", "Bash(*)", "Bash(:*)", "Read",
                 "Read(//**)", "Glob", "Grep(*)"})
    EXPECT_NE(check_allowed_rule(r), "") << r;
}

TEST(allowed_rule, narrow_rules_pass) {
  for (auto r : {"Bash(git diff:*)", "Bash(ls:*)", "Read(./src/**)",
                 "WebFetch(domain:example.com)", "WebSearch"})
    EXPECT_EQ(check_allowed_rule(r), "") << r;
}

TEST(allowed_rule, malformed_rules_are_named) {
  EXPECT_NE(check_allowed_rule("Bash(git diff:*").find("tool name"),
            std::string::npos);
  EXPECT_NE(check_allowed_rule("(x)"), "");
  EXPECT_NE(check_allowed_rule("Read, Write"), "");
}

TEST(add_dir, dot_dot_and_the_logins_are_refused) {
  EXPECT_EQ(check_add_dir("shared/library"), "");
  EXPECT_EQ(check_add_dir("/srv/data"), "");
  EXPECT_NE(check_add_dir("../etc"), "");
  EXPECT_NE(check_add_dir("workspaces/../auth-homes"), "");
  EXPECT_NE(check_add_dir("auth-homes/anga"), "");
}

TEST(denials, are_read_from_the_cli_result_in_short) {
  auto j = json::parse(R"({"permission_denials": [
    {"tool_name": "Write", "tool_use_id": "t1",
     "tool_input": {"file_path": "/w/evaluation.md", "content": "long"}},
    {"tool_name": "Bash", "tool_input": {"command": "rm -rf /tmp/x"}},
    {"tool_name": "Odd", "tool_input": {"n": 1}}]})");
  auto xs = denials_from_cli(j);
  ASSERT_EQ(xs.size(), 3u);
  EXPECT_EQ(xs[0].tool, "Write");
  EXPECT_EQ(xs[0].input, "/w/evaluation.md");
  EXPECT_EQ(xs[2].input, R"({"n":1})");
  EXPECT_EQ(describe(xs),
            R"(Write /w/evaluation.md; Bash rm -rf /tmp/x; Odd {"n":1})");
  EXPECT_TRUE(denials_from_cli(json::object()).empty());
}

TEST(denials, fail_a_complete_result_unless_reported) {
  result r;
  r.state = status::complete;
  r.summary = "Wrote the evaluation";
  set_denials(r, {{"Write", "/w/e.md"}});
  auto kept = r;
  apply_denial_policy(kept, on_denial_report);
  EXPECT_TRUE(kept.ok());
  EXPECT_EQ(denials_of(kept).size(), 1u);
  apply_denial_policy(r, on_denial_fail);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->kind, permission_denied_kind);
  EXPECT_NE(r.error->message.find("Write /w/e.md"), std::string::npos);
  EXPECT_EQ(denials_of(r).size(), 1u);
}

#include "core/prompt.hpp"

#include <gtest/gtest.h>

using namespace troupe;

TEST(prompt, takes_the_last_json_report_block) {
  auto rep = extract_report(R"(Here is an example: ```json
{"summary": "not this one"}
```
Work done.

```json
{"summary": "Evaluated Emma", "findings": ["APEXX 38/50"], "artifacts": ["evaluations/emma.md"]}
```
)");
  EXPECT_TRUE(rep.structured);
  EXPECT_EQ(rep.summary, "Evaluated Emma");
  EXPECT_EQ(rep.findings, std::vector<std::string>{"APEXX 38/50"});
  EXPECT_EQ(rep.artifacts, std::vector<std::string>{"evaluations/emma.md"});
}

TEST(prompt, without_a_block_the_whole_answer_is_the_summary) {
  auto rep = extract_report("  Just prose.\n```json\n{not json}\n```\n");
  EXPECT_FALSE(rep.structured);
  EXPECT_EQ(rep.summary, "Just prose.\n```json\n{not json}\n```");
}

TEST(prompt, dependents_get_summaries_findings_artifacts_not_transcripts) {
  task t;
  t.task_id = "b";
  t.description = "Write the class summary.";
  t.context = json::parse(R"({"class": "hip-hop",
    "dependency_results": {"a": {"worker": "marie", "summary": "Emma: 38/50",
      "findings": ["rock stiff"], "artifacts": ["workspaces/marie/e.md"]}}})");
  auto p = compose_task_prompt(t);
  EXPECT_EQ(p.rfind("Write the class summary.\n", 0), 0u);
  EXPECT_NE(p.find("\"class\": \"hip-hop\""), std::string::npos);
  EXPECT_NE(p.find("### a (marie)\nEmma: 38/50\n- rock stiff\n"), std::string::npos);
  EXPECT_NE(p.find("workspaces/marie/e.md"), std::string::npos);
  EXPECT_EQ(p.find("dependency_results"), std::string::npos);
  EXPECT_NE(p.find("```json"), std::string::npos); // the report instructions
}


TEST(prompt, a_retry_is_told_why_its_previous_output_was_refused) {
  task t;
  t.task_id = "t";
  t.description = "Evaluate Emma.";
  t.context = {{"student", "Emma"},
               {previous_failure_key, {{"kind", "bad_output"},
                                       {"message", "evaluation.md does not exist"}}}};
  auto p = compose_task_prompt(t);
  EXPECT_NE(p.find("## Your previous attempt was refused\nevaluation.md does not exist"),
            std::string::npos) << p;
  EXPECT_EQ(p.find(previous_failure_key), std::string::npos) << "not shown as context";
  EXPECT_NE(p.find("\"student\""), std::string::npos);
}

TEST(prompt, a_task_with_an_output_schema_is_asked_for_it) {
  task t;
  t.task_id = "t";
  t.description = "Score Emma.";
  t.extra = {{output_schema_key, {{"type", "object"}, {"required", {"score"}}}}};
  auto p = compose_task_prompt(t);
  EXPECT_NE(p.find("give your report as your structured output"), std::string::npos) << p;
  EXPECT_NE(p.find("\"required\": [\n    \"score\"\n  ]"), std::string::npos) << p;
  EXPECT_EQ(p.find("end your answer with exactly one fenced JSON block"), std::string::npos);
}

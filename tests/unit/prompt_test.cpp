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


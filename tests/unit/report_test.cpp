#include "core/report.hpp"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "core/json_codec.hpp"

using namespace troupe;

TEST(report, counts_totals_and_failures) {
  run_summary s;
  s.run_id = "r1";
  s.workflow_name = "wf";
  result ok;
  ok.task_id = "a";
  ok.worker = "marie";
  ok.state = status::complete;
  ok.summary = "Emma: 38/50";
  ok.findings = {"rock stiff"};
  ok.artifacts = {"workspaces/marie/e.md"};
  ok.tokens.input_tokens = 100;
  ok.tokens.cache_read_input_tokens = 300;
  ok.tokens.output_tokens = 50;
  ok.cost_usd = 0.5;
  result bad;
  bad.task_id = "b";
  bad.worker = "anga";
  bad.state = status::failed;
  bad.error = error_info{"timeout", "killed at deadline"};
  bad.cost_usd = 0.25;
  s.results = {ok, bad};
  EXPECT_FALSE(s.all_complete());
  auto j = report_json(s);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["counts"]["complete"], 1);
  EXPECT_EQ(j["counts"]["failed"], 1);
  EXPECT_DOUBLE_EQ(j["totals"]["cost_usd"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["totals"]["cache_read_ratio"].get<double>(), 0.75);
  EXPECT_EQ(j["workers"]["marie"]["complete"], 1);
  auto md = report_markdown(s);
  EXPECT_NE(md.find("### a (marie): complete\n\nEmma: 38/50"), std::string::npos);
  EXPECT_NE(md.find("- rock stiff"), std::string::npos);
  EXPECT_NE(md.find("`workspaces/marie/e.md`"), std::string::npos);
  EXPECT_NE(md.find("**timeout**: killed at deadline"), std::string::npos);
  EXPECT_EQ(md.find("Simulated run"), std::string::npos);
  EXPECT_NE(md.find("## What to do next\n\n- **timeout** (b): raise the "
                    "task's timeout_s"),
            std::string::npos);
}

TEST(report, both_files_are_written_or_the_error_is_said) {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path()
             / ("troupe-report-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  json js = {{"run_id", "r1"}};
  EXPECT_EQ(write_report((dir / "runs/r1").string(), js, "# r1\n"), "");
  std::ifstream md{dir / "runs/r1/report.md"};
  std::string line;
  std::getline(md, line);
  EXPECT_EQ(line, "# r1");
  std::ifstream j{dir / "runs/r1/report.json"};
  EXPECT_EQ(json::parse(j), js);
  // A file where the folder should be: said, not ignored.
  { std::ofstream block{dir / "blocked"}; }
  auto err = write_report((dir / "blocked/r2").string(), js, "# r2\n");
  EXPECT_NE(err.find("blocked"), std::string::npos) << err;
  fs::remove_all(dir);
}

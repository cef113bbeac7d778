// Plain-language requests: reading and checking the planner's answer, the
// deterministic router, and what the planner and synthesiser are told.

#include "core/plan.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/prompt.hpp"
#include "core/report.hpp"

using namespace troupe;
namespace fs = std::filesystem;

namespace {

config team_config() {
  problems ps;
  auto cfg = config_from_json(json::parse(R"({
    "workers": {
      "marie": {"prompt": "DANCE.md", "role": "Dance teacher's assistant: evaluations.",
                "keywords": ["dance", "student", "évaluation", "hip-hop"]},
      "anga": {"prompt": "ANGA.md", "role": "Software engineer: code review.",
               "keywords": ["code", "review", "test"]},
      "fabien": {"prompt": "FABIEN.md", "role": "Marketing lead: campaigns and newsletters.",
                 "keywords": ["newsletter", "campaign"]}},
    "orchestrator": {"max_tasks": 5, "max_depth": 2}})"),
                              "/cfg", ps);
  EXPECT_TRUE(cfg) << (ps.empty() ? "" : ps[0]);
  return *cfg;
}

context_file ctx(std::string name, std::string text) {
  context_file f{std::move(name), std::move(text), nullptr};
  auto j = json::parse(f.text, nullptr, false);
  if (!j.is_discarded())
    f.parsed = j;
  return f;
}

std::vector<std::string> ids(const workflow& wf) {
  std::vector<std::string> out;
  for (auto& t : wf.tasks)
    out.push_back(t.task_id + "@" + t.worker);
  return out;
}

const std::string good_plan = R"({"tasks": [
  {"task_id": "eval-emma", "worker": "marie", "description": "Evaluate Emma."},
  {"task_id": "news", "worker": "fabien", "description": "Write the newsletter.",
   "dependencies": ["eval-emma"], "priority": "high"}]})";

} // namespace

TEST(plan, a_bare_json_plan_is_read_and_named_after_the_request) {
  problems ps;
  auto wf = read_plan(good_plan, team_config(), "Evaluate Emma\nand tell people", ps);
  ASSERT_TRUE(wf) << ps.at(0);
  EXPECT_EQ(ids(*wf), (std::vector<std::string>{"eval-emma@marie", "news@fabien"}));
  EXPECT_EQ(wf->name, "Evaluate Emma");
  EXPECT_EQ(wf->description, "Evaluate Emma\nand tell people");
  EXPECT_EQ(wf->tasks[1].prio, priority::high);
}

TEST(plan, a_plan_in_a_fenced_block_among_prose_is_read) {
  problems ps;
  auto answer = "Here is the plan:\n\n```json\n" + good_plan
                + "\n```\n\nIt runs the evaluation first.";
  EXPECT_TRUE(read_plan(answer, team_config(), "r", ps)) << ps.at(0);
  // A bare array of tasks is accepted too.
  auto arr = json::parse(good_plan)["tasks"].dump();
  EXPECT_TRUE(read_plan("Sure. " + arr, team_config(), "r", ps));
}

TEST(plan, bad_plans_are_refused_with_every_reason) {
  auto cfg = team_config();
  struct row {
    std::string answer;
    problems want;
  };
  std::vector<row> table{
    {"I cannot plan this.",
     {"the answer holds no JSON plan (expected {\"tasks\": [...]}); it "
      "begins: I cannot plan this."}},
    {R"({"steps": []})", {"the plan has no \"tasks\" array"}},
    {R"({"tasks": []})", {"tasks []: must be a non-empty array of tasks"}},
    {R"({"tasks": [{"task_id": "a", "worker": "ghost", "description": "x"},
                   {"task_id": "b", "worker": "anga", "description": "y",
                    "dependencies": ["c"]}]})",
     {"tasks[0].worker \"ghost\": not a configured worker (configured: anga, "
      "fabien, marie)",
      "tasks[1] \"b\": dependency \"c\" does not exist"}},
    {R"({"tasks": [{"task_id": "a", "worker": "anga", "description": "x", "dependencies": ["b"]},
                   {"task_id": "b", "worker": "anga", "description": "y", "dependencies": ["a"]}]})",
     {"dependency cycle: a -> b -> a"}},
    {R"({"tasks": [{"task_id": "a", "worker": "anga", "description": "Review main.cpp"},
                   {"task_id": "b", "worker": "anga", "description": " review MAIN.cpp "}]})",
     {"task \"b\": worker anga already has the same description in task \"a\""}},
  };
  for (auto& r : table) {
    problems ps;
    EXPECT_FALSE(read_plan(r.answer, cfg, "req", ps)) << r.answer;
    EXPECT_EQ(ps, r.want) << r.answer;
  }
}

TEST(plan, size_and_depth_are_bounded_by_the_orchestrator_config) {
  auto cfg = team_config(); // max_tasks 5, max_depth 2
  json tasks = json::array();
  for (int i = 0; i < 6; ++i)
    tasks.push_back({{"task_id", "t" + std::to_string(i)},
                     {"worker", "anga"},
                     {"description", "part " + std::to_string(i)}});
  problems ps;
  EXPECT_FALSE(read_plan(json{{"tasks", tasks}}.dump(), cfg, "r", ps));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].find("at most 5"), std::string::npos) << ps[0];
  json chain = json::array();
  for (int i = 0; i < 3; ++i)
    chain.push_back({{"task_id", "c" + std::to_string(i)},
                     {"worker", "anga"},
                     {"description", "step " + std::to_string(i)},
                     {"dependencies", i ? json{"c" + std::to_string(i - 1)} : json::array()}});
  ps.clear();
  EXPECT_FALSE(read_plan(json{{"tasks", chain}}.dump(), cfg, "r", ps));
  EXPECT_EQ(ps, problems{"tasks: dependency chain of depth 3, at most 2 allowed"});
}

TEST(plan, the_planner_is_told_workers_context_limits_and_its_errors) {
  auto cfg = team_config();
  auto p = planning_prompt(cfg, "Evaluate all students",
                           {ctx("/home/me/roster.json", R"(["Emma", "Léo"])")});
  EXPECT_EQ(p.rfind("# Plan request", 0), 0u);
  EXPECT_NE(p.find("## Request\n\nEvaluate all students"), std::string::npos);
  EXPECT_NE(p.find("- `marie`: Dance teacher's assistant: evaluations. Keywords: "
                   "dance student évaluation hip-hop."),
            std::string::npos);
  EXPECT_NE(p.find("### roster.json\n\n```json\n[\"Emma\", \"Léo\"]\n```"),
            std::string::npos);
  EXPECT_NE(p.find("At most 5 tasks; no dependency chain longer than 2"),
            std::string::npos);
  EXPECT_EQ(p.find("refused"), std::string::npos);
  auto again = planning_prompt(cfg, "r", {}, {"tasks[0].worker \"ghost\": nope"},
                               "{\"tasks\": [...]}");
  EXPECT_NE(again.find("## Your previous plan was refused\n\n- tasks[0].worker "
                       "\"ghost\": nope\n"),
            std::string::npos);
  EXPECT_NE(again.find("{\"tasks\": [...]}"), std::string::npos);
}

TEST(plan, the_router_picks_workers_by_keywords_as_whole_words) {
  auto cfg = team_config();
  problems ps;
  auto wf = route_request(cfg, "Review the code of the studio's booking site", {}, ps);
  ASSERT_TRUE(wf) << ps.at(0);
  EXPECT_EQ(ids(*wf), std::vector<std::string>{"anga-review-the-code-of-the@anga"});
  wf = route_request(cfg, "Write the NEWSLETTER and a dance campaign", {}, ps);
  ASSERT_TRUE(wf);
  EXPECT_EQ(wf->tasks.size(), 2u); // marie (dance) and fabien, independent
  EXPECT_TRUE(wf->tasks[0].dependencies.empty());
  // "test" is not in "latest"; no keyword, no role word: refused.
  EXPECT_FALSE(route_request(cfg, "Read the latest weather", {}, ps));
  EXPECT_NE(ps.back().find("no worker matches the request"), std::string::npos);
  // No keyword, but a word of a role ("newsletters").
  ps.clear();
  wf = route_request(cfg, "Plan our newsletters for spring", {}, ps);
  ASSERT_TRUE(wf) << ps.at(0);
  EXPECT_EQ(wf->tasks[0].worker, "fabien");
}

TEST(plan, all_items_of_a_context_list_fan_out_one_task_each) {
  auto cfg = team_config();
  problems ps;
  auto roster = ctx("roster.json", R"({"class": "hip-hop", "students": [
    {"name": "Emma Rodriguez", "level": 2}, {"name": "Léo Martin"}, "Chloé"]})");
  auto wf = route_request(
    cfg, "Evaluate all students of my hip-hop class, then a newsletter", {roster}, ps);
  ASSERT_TRUE(wf) << ps.at(0);
  EXPECT_EQ(ids(*wf), (std::vector<std::string>{
                        "marie-emma-rodriguez@marie", "marie-leo-martin@marie",
                        "marie-chloe@marie", "fabien-evaluate-all-students-of@fabien"}));
  EXPECT_EQ(wf->tasks[0].context["item"]["level"], 2);
  EXPECT_NE(wf->tasks[1].description.find("one item only: Léo Martin"),
            std::string::npos);
  // The newsletter builds on the whole batch.
  EXPECT_EQ(wf->tasks[3].dependencies,
            (std::vector<std::string>{"marie-emma-rodriguez", "marie-leo-martin",
                                      "marie-chloe"}));
  // CSV with a header, and plain lines (comments and blanks skipped).
  auto csv = ctx("class.csv", "name,level\nEmma,2\n\"Doe, Jane\",1\n");
  wf = route_request(cfg, "Evaluate each student", {csv}, ps);
  ASSERT_TRUE(wf);
  EXPECT_EQ(ids(*wf), (std::vector<std::string>{"marie-emma@marie", "marie-doe-jane@marie"}));
  EXPECT_EQ(wf->tasks[1].context["item"]["level"], "1");
  auto lines = ctx("names.txt", "# my class\nEmma\n\nLéo\n");
  wf = route_request(cfg, "Évaluation de chaque student", {lines}, ps);
  ASSERT_TRUE(wf) << ps.back();
  EXPECT_EQ(ids(*wf), (std::vector<std::string>{"marie-emma@marie", "marie-leo@marie"}));
  // The same name twice would be the same task twice: refused.
  EXPECT_FALSE(route_request(cfg, "Evaluate each student",
                             {ctx("names.txt", "Emma\nEmma\n")}, ps));
  EXPECT_EQ(ps.back(), "task \"marie-emma-2\": worker marie already has the "
                       "same description in task \"marie-emma\"");
  // Without a fan-out word the list is context, not a batch.
  wf = route_request(cfg, "Summarise my dance class", {roster}, ps);
  ASSERT_TRUE(wf);
  ASSERT_EQ(wf->tasks.size(), 1u);
  EXPECT_EQ(wf->tasks[0].context["request_context"]["roster.json"]["class"], "hip-hop");
}

TEST(plan, a_fan_out_beyond_max_tasks_is_refused) {
  auto cfg = team_config(); // max_tasks 5
  json names = json::array();
  for (int i = 0; i < 6; ++i)
    names.push_back("Student " + std::to_string(i));
  problems ps;
  EXPECT_FALSE(route_request(cfg, "Evaluate all students",
                             {ctx("r.json", names.dump())}, ps));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0].find("at most 5"), std::string::npos) << ps[0];
}

TEST(plan, the_synthesiser_gets_results_never_transcripts) {
  run_summary s;
  result ok;
  ok.task_id = "eval-emma";
  ok.worker = "marie";
  ok.state = status::complete;
  ok.summary = "Emma: 38/50.";
  ok.findings = {"work on isolations"};
  ok.artifacts = {"workspaces/marie/emma.md"};
  ok.session_id = "sess-123";
  ok.extra = {{"transcript", "the whole conversation"}};
  result bad;
  bad.task_id = "news";
  bad.worker = "fabien";
  bad.state = status::failed;
  bad.error = error_info{"timeout", "killed at its deadline"};
  s.results = {ok, bad};
  auto p = synthesis_prompt("Evaluate Emma", s);
  EXPECT_EQ(p.rfind("# Synthesis request", 0), 0u);
  EXPECT_NE(p.find("### eval-emma (marie): complete\n\nEmma: 38/50.\n- work on "
                   "isolations\nArtifacts (paths relative to the project root): "
                   "workspaces/marie/emma.md\n"),
            std::string::npos);
  EXPECT_NE(p.find("### news (fabien): failed\n\nError (timeout): killed at its deadline"),
            std::string::npos);
  EXPECT_EQ(p.find("whole conversation"), std::string::npos);
  EXPECT_EQ(p.find("sess-123"), std::string::npos);
}

TEST(plan, the_synthesiser_reads_small_files_and_not_large_or_outside_ones) {
  namespace fs = std::filesystem;
  auto root = fs::temp_directory_path() / ("troupe-synth-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "workspaces/marie");
  fs::create_directories(root / "artifacts/fabien/news");
  fs::create_directories(root / "auth-homes/marie");
  std::ofstream(root / "workspaces/marie/emma.md") << "# Emma\n38/50\n";
  std::ofstream(root / "workspaces/marie/big.md") << std::string(synthesis_file_bytes + 1, 'x');
  std::ofstream(root / "auth-homes/marie/key") << "sk-secret";
  std::ofstream(root / "artifacts/fabien/news/letter.md") << "Dear parents";
  run_summary s;
  result m;
  m.task_id = "eval";
  m.worker = "marie";
  m.state = status::complete;
  m.artifacts = {"workspaces/marie/emma.md", "workspaces/marie/big.md",
                 "auth-homes/marie/key"};
  result f; // ran on another node: the orchestrator has its copy
  f.task_id = "news";
  f.worker = "fabien";
  f.state = status::complete;
  f.artifacts = {"workspaces/fabien/letter.md"};
  s.results = {m, f};
  auto p = synthesis_prompt("Evaluate Emma", s, root.string());
  EXPECT_NE(p.find("Content of workspaces/marie/emma.md:\n\n````\n# Emma\n38/50\n"),
            std::string::npos) << p;
  EXPECT_NE(p.find("Content of workspaces/fabien/letter.md:\n\n````\nDear parents"),
            std::string::npos) << p;
  EXPECT_EQ(p.find("Content of workspaces/marie/big.md"), std::string::npos);
  EXPECT_EQ(p.find("sk-secret"), std::string::npos);
  EXPECT_EQ(synthesis_prompt("Evaluate Emma", s).find("Content of"), std::string::npos);
  fs::remove_all(root);
}

TEST(plan, raw_tasks_are_sent_as_they_are) {
  task t;
  t.task_id = "plan-1";
  t.worker = "orchestrator";
  t.description = "# Plan request\n...";
  t.context = {{"x", 1}};
  EXPECT_NE(compose_task_prompt(t).find("How to report"), std::string::npos);
  make_raw(t);
  EXPECT_TRUE(is_raw(t));
  EXPECT_EQ(compose_task_prompt(t), "# Plan request\n...");
}

TEST(plan, context_files_are_checked) {
  auto dir = fs::temp_directory_path() / ("troupe-ctx-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "roster.json") << R"(["Emma"])";
  std::ofstream(dir / "notes.txt") << "Emma\n";
  std::ofstream(dir / "big.txt") << std::string(2000, 'x');
  problems ps;
  auto files = load_context_files({(dir / "roster.json").string(),
                                   (dir / "notes.txt").string(),
                                   (dir / "missing.txt").string(), dir.string(),
                                   (dir / "big.txt").string()},
                                  ps, 1000);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].parsed, json::parse(R"(["Emma"])"));
  EXPECT_TRUE(files[1].parsed.is_null());
  EXPECT_EQ(ps, (problems{"--context " + (dir / "missing.txt").string() + ": no such file",
                          "--context " + dir.string() + ": not a regular file",
                          "--context " + (dir / "big.txt").string()
                            + ": 2000 bytes, at most 1000 allowed"}));
  fs::remove_all(dir);
}

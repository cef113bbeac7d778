// The Claude executor against the faithful fake CLI (tests/fake/claude) put
// first on PATH: how troupe calls it, and how every outcome is classified.

#include "core/claude_executor.hpp"
#include "core/command_executor.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <cerrno>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/prompt.hpp"
#include "core/sim_executor.hpp"
#include "core/stream_json.hpp"
#include "core/sha256.hpp"

using namespace troupe;
namespace fs = std::filesystem;

namespace {

class claude_executor_test : public ::testing::Test {
protected:
  void SetUp() override {
    root = fs::temp_directory_path()
           / ("troupe-claude-" + std::to_string(::getpid()) + "-"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root);
    auto fake_dir = fs::path{TROUPE_FAKE_CLAUDE}.parent_path().string();
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    if (path.rfind(fake_dir + ":", 0) != 0)
      ::setenv("PATH", (fake_dir + ":" + path).c_str(), 1);
    ::setenv("TROUPE_TEST_SECRET", "must-not-leak", 1);
    ::setenv("MARIE_KEY", "sk-ant-test-marie", 1);
    w.name = "marie";
    w.prompt_path = TROUPE_SOURCE_DIR "/prompts/DANCE.md";
    w.model = "claude-sonnet-4-5";
    w.max_turns = 7;
    w.api_key_env = "MARIE_KEY";
    w.deadline_s = 30;
    settings.kill_grace_ms = 200;
  }

  void TearDown() override { fs::remove_all(root); }

  claude_executor make() {
    return claude_executor{settings, w, worker_paths::make(root.string(), "marie")};
  }

  void check_failure_table() {
    settings.max_output_bytes = 1 << 20;
    auto ex = make();
    std::vector<std::pair<std::string, std::string>> table{
      {"429", "rate_limited"},       {"spend-limit", "spend_limit"},
      {"spend-limit-400", "spend_limit"}, {"gateway-budget", "budget"},
      {"529", "overloaded"},         {"500", "server_error"},
      {"401", "auth"},               {"not-logged-in", "not_logged_in"},
      {"no-connection", "connection"}, {"max-turns", "max_turns"},
      {"budget", "budget"},          {"exec-error", "crashed"},
      {"truncated", "bad_output"},   {"garbage", "bad_output"},
      {"crash", "crashed"},          {"big", "bad_output"},
    };
    for (auto& [mode, kind] : table) {
      auto r = ex.run(mk("Evaluate. FAKE_CLAUDE:" + mode), 1);
      EXPECT_EQ(r.state, status::failed) << mode;
      ASSERT_TRUE(r.error) << mode;
      EXPECT_EQ(r.error->kind, kind) << mode << ": " << r.error->message;
      EXPECT_FALSE(r.error->message.empty()) << mode;
    }
    auto r = ex.run(mk("FAKE_CLAUDE:429"), 1);
    EXPECT_EQ(r.extra["api_error_status"], 429);
    EXPECT_NE(r.error->message.find("rate_limit_error"), std::string::npos);
  }

  task mk(std::string description) {
    task t;
    t.task_id = "eval-001";
    t.worker = "marie";
    t.description = std::move(description);
    t.context = json{{"student_name", "Emma Rodriguez"}};
    return t;
  }

  /// The one recorded call of the fake.
  json last_call() {
    auto dir = root / "auth-homes/marie/.claude/fake-calls";
    json newest;
    std::string best;
    for (auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".json" && e.path().string() > best) {
        best = e.path().string();
        newest = json::parse(std::ifstream(e.path()));
      }
    }
    return newest;
  }

  fs::path root;
  worker_config w;
  claude_settings settings;
};

} // namespace

TEST_F(claude_executor_test, calls_the_cli_as_the_design_says) {
  auto ex = make();
  auto t = mk("Create hip-hop evaluation for Emma Rodriguez");
  t.budget_usd = 0.5;
  auto r = ex.run(t, 1);
  ASSERT_TRUE(r.ok()) << r.summary;
  auto call = last_call();
  EXPECT_EQ(call["argv"], json({"-p", "--output-format", "stream-json",
                                "--system-prompt-file", w.prompt_path, "--model",
                                "claude-sonnet-4-5", "--max-turns", "7",
                                "--verbose", "--max-budget-usd", "0.5",
                                "--permission-mode=acceptEdits"}));
  EXPECT_EQ(call["stdin"], compose_task_prompt(t));
  EXPECT_EQ(call["cwd"], (root / "workspaces/marie").string());
  auto env = call["env"];
  EXPECT_EQ(env["CLAUDE_CONFIG_DIR"], (root / "auth-homes/marie/.claude").string());
  EXPECT_EQ(env["HOME"], (root / "auth-homes/marie").string());
  EXPECT_EQ(env["CLAUDE_CODE_MAX_RETRIES"], "1");
  EXPECT_EQ(env["ANTHROPIC_API_KEY"], "sk-ant-test-marie");
  EXPECT_FALSE(env.contains("TROUPE_TEST_SECRET"));
  EXPECT_FALSE(env.contains("MARIE_KEY"));
  std::set<std::string> allowed{"PATH", "LANG", "LC_ALL", "TZ", "HOME",
                                "CLAUDE_CONFIG_DIR", "CLAUDE_CODE_MAX_RETRIES",
                                "DISABLE_AUTOUPDATER", "ANTHROPIC_BASE_URL",
                                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
                                "ANTHROPIC_API_KEY"};
  for (auto& [k, v] : env.items()) {
    EXPECT_TRUE(allowed.count(k)) << "unexpected variable " << k;
  }
}

TEST_F(claude_executor_test, through_the_gateway_each_run_names_its_task) {
  ::setenv("ANTHROPIC_BASE_URL", "http://upstream.invalid", 1);
  ::setenv("ANTHROPIC_CUSTOM_HEADERS", "x-user: kept", 1);
  settings.pass_env.push_back("ANTHROPIC_CUSTOM_HEADERS");
  settings.gateway_url = "http://127.0.0.1:4100";
  auto t = mk("Evaluate.");
  t.task_id = "eval;1";
  t.prio = priority::low;
  auto r = make().run(t, 2);
  ::unsetenv("ANTHROPIC_BASE_URL");
  ::unsetenv("ANTHROPIC_CUSTOM_HEADERS");
  ASSERT_TRUE(r.ok()) << r.summary;
  auto env = last_call()["env"];
  // The gateway is the CLI's API (the node's own base URL is its upstream).
  EXPECT_EQ(env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:4100");
  EXPECT_EQ(env["ANTHROPIC_CUSTOM_HEADERS"],
            "x-user: kept\nx-troupe-task: worker=marie;task=eval%3B1;attempt=2;prio=low");
  EXPECT_EQ(env["ANTHROPIC_API_KEY"], "sk-ant-test-marie"); // passed on, upstream
}

TEST_F(claude_executor_test, through_the_gateway_the_tag_carries_the_budget) {
  settings.gateway_url = "http://127.0.0.1:4100";
  w.max_budget_usd = 0.5;
  auto t = mk("Evaluate.");
  ASSERT_TRUE(make().run(t, 1).ok());
  EXPECT_EQ(last_call()["env"]["ANTHROPIC_CUSTOM_HEADERS"],
            "x-troupe-task: worker=marie;task=eval-001;attempt=1;prio=medium;budget=0.5");
  t.budget_usd = 0.0125; // the task's own (its share of a workflow's) wins
  ASSERT_TRUE(make().run(t, 1).ok());
  EXPECT_EQ(last_call()["env"]["ANTHROPIC_CUSTOM_HEADERS"],
            "x-troupe-task: worker=marie;task=eval-001;attempt=1;prio=medium;budget=0.0125");
}

TEST_F(claude_executor_test, a_named_key_variable_left_empty_keeps_the_login) {
  // The shipped config names a variable per worker; unset or empty, the CLI
  // uses the login in the worker's auth home, not an empty key.
  for (const char* value : std::initializer_list<const char*>{"", nullptr}) {
    if (value)
      ::setenv("MARIE_KEY", value, 1);
    else
      ::unsetenv("MARIE_KEY");
    auto r = make().run(mk("Evaluate."), 1);
    ASSERT_TRUE(r.ok()) << r.summary;
    EXPECT_FALSE(last_call()["env"].contains("ANTHROPIC_API_KEY"))
      << (value ? "empty" : "unset");
  }
  ::setenv("MARIE_KEY", "sk-ant-test-marie", 1);
}

TEST_F(claude_executor_test, tools_and_grants_use_the_equals_form) {
  w.tools = {"Read", "Write"};
  w.permission_mode = "dontAsk";
  w.allowed_tools = {"Bash(git diff:*)", "Bash(ls:*)"};
  w.disallowed_tools = {"Bash(git push:*)"};
  w.add_dirs = {"shared/library"};
  auto ex = make();
  auto a = ex.argv_for(mk("x"));
  auto shared = fs::weakly_canonical(root / "shared/library").string();
  EXPECT_EQ(std::vector<std::string>(a.end() - 5, a.end()),
            (std::vector<std::string>{
              "--tools=Read,Write", "--permission-mode=dontAsk",
              "--allowedTools=Bash(git diff:*),Bash(ls:*)",
              "--disallowedTools=Bash(git push:*)", "--add-dir=" + shared}));
  EXPECT_TRUE(fs::is_directory(shared)); // the CLI refuses a missing one
  auto r = ex.run(mk("x"), 1);
  EXPECT_TRUE(r.ok()) << r.summary;
}

TEST_F(claude_executor_test, sub_agents_are_passed_and_get_the_agent_tool) {
  w.tools = {"Read", "Write"};
  auto agents = json::parse(R"({"checker": {"description": "d", "prompt": "p"}})");
  claude_executor ex{settings, w, worker_paths::make(root.string(), "marie"), agents};
  auto a = ex.argv_for(mk("x"));
  EXPECT_NE(std::find(a.begin(), a.end(), "--tools=Read,Write,Agent"), a.end());
  EXPECT_EQ(a.back(), "--agents=" + agents.dump());
  auto r = ex.run(mk("x"), 1); // the fake CLI checks the JSON as the real one
  EXPECT_TRUE(r.ok()) << r.summary;
  // Without sub-agents nothing is added.
  auto plain = make().argv_for(mk("x"));
  EXPECT_NE(std::find(plain.begin(), plain.end(), "--tools=Read,Write"), plain.end());
}

TEST_F(claude_executor_test, a_dependent_may_read_exactly_its_dependencies_files) {
  fs::create_directories(root / "workspaces/anga");
  std::ofstream(root / "workspaces/anga/review.md") << "LGTM\n";
  std::ofstream(root / "workspaces/anga/private.md") << "not handed on\n";
  auto t = mk("Write the parents' letter.");
  t.context["dependency_results"]["review"] = {
    {"worker", "anga"}, {"summary", "Reviewed."},
    {"artifacts", {"workspaces/anga/review.md", "/etc/passwd"}}};
  auto ex = make();
  auto review = fs::canonical(root / "workspaces/anga/review.md").string();
  auto a = ex.argv_for(t);
  auto rules = std::find_if(a.begin(), a.end(), [](const std::string& x) {
    return x.rfind("--allowedTools=", 0) == 0;
  });
  ASSERT_NE(rules, a.end());
  EXPECT_EQ(*rules, "--allowedTools=Read(/" + review + ")");
  for (auto& x : a) // read access only: the folder is not added
    EXPECT_EQ(x.find("--add-dir"), std::string::npos) << x;
  auto r = ex.run(t, 1);
  ASSERT_TRUE(r.ok()) << r.summary;
  auto prompt = last_call()["stdin"].get<std::string>();
  EXPECT_NE(prompt.find("Files it wrote: " + review + " /etc/passwd (not readable"),
            std::string::npos)
    << prompt;
}

TEST_F(claude_executor_test, an_output_schema_goes_to_the_cli_and_its_report_is_kept) {
  auto t = mk("Score Emma.");
  json schema = {{"type", "object"}, {"required", {"summary", "score"}}};
  t.extra = {{output_schema_key, schema}};
  auto ex = make();
  auto a = ex.argv_for(t);
  EXPECT_NE(std::find(a.begin(), a.end(), "--json-schema=" + schema.dump()), a.end());
  auto r = ex.run(t, 1);
  ASSERT_TRUE(r.ok()) << r.summary;
  EXPECT_EQ(r.extra[result_output_key]["score"], 3);
  EXPECT_EQ(r.summary, r.extra[result_output_key]["summary"]);
  EXPECT_EQ(r.findings.size(), 2u);
  // Without structured output the report does not conform: bad output.
  auto plain = ex.run(mk("Score Emma. FAKE_CLAUDE:plain"), 1);
  EXPECT_TRUE(plain.ok()) << "without a schema a plain answer is fine";
  t.description = "Score Emma. FAKE_CLAUDE:plain";
  auto bad = ex.run(t, 1);
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->kind, "bad_output");
  EXPECT_NE(bad.error->message.find("output_schema"), std::string::npos);
}

TEST_F(claude_executor_test, the_command_executor_refuses_an_output_schema_it_cannot_check) {
  command_settings cs;
  cs.argv = {"/bin/sh", "-c", "touch ran"};
  command_executor ex{cs, w, worker_paths::make(root.string(), "marie")};
  auto t = mk("Score Emma.");
  t.extra = {{output_schema_key, {{"type", "object"}}}};
  auto r = ex.run(t, 1);
  EXPECT_EQ(r.state, status::rejected);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, "unsupported");
  EXPECT_FALSE(fs::exists(root / "workspaces/marie/ran")) << "nothing ran";
}

TEST_F(claude_executor_test, success_takes_report_usage_and_artifacts) {
  auto r = make().run(mk("Create hip-hop evaluation for Emma Rodriguez"), 2);
  ASSERT_TRUE(r.ok()) << r.summary;
  EXPECT_EQ(r.task_id, "eval-001");
  EXPECT_EQ(r.worker, "marie");
  EXPECT_EQ(r.attempt, 2);
  EXPECT_EQ(r.summary.rfind("Fake claude completed the task", 0), 0u);
  ASSERT_EQ(r.findings.size(), 2u);
  ASSERT_EQ(r.artifacts.size(), 1u);
  EXPECT_EQ(r.artifacts[0].rfind("workspaces/marie/fake-output-", 0), 0u);
  EXPECT_TRUE(fs::exists(root / r.artifacts[0]));
  auto files = files_of(r);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].path, r.artifacts[0]);
  EXPECT_EQ(files[0].sha256, *sha256_file((root / r.artifacts[0]).string()));
  EXPECT_EQ(files[0].size,
            static_cast<int64_t>(fs::file_size(root / r.artifacts[0])));
  EXPECT_EQ(r.extra["models"]["claude-sonnet-4-5-20250929"]["usage"]
                   ["output_tokens"],
            180);
  EXPECT_EQ(r.model, "claude-sonnet-4-5-20250929");
  EXPECT_GT(r.tokens.input_tokens, 0);
  EXPECT_EQ(r.tokens.output_tokens, 180);
  EXPECT_EQ(r.tokens.cache_read_input_tokens, 1200);
  EXPECT_GT(r.cost_usd, 0);
  EXPECT_FALSE(r.session_id.empty());
  EXPECT_FALSE(r.completed_at.empty());
  EXPECT_EQ(r.extra["num_turns"], 1);
}

TEST_F(claude_executor_test, the_json_format_is_called_without_verbose) {
  settings.output_format = "json";
  auto r = make().run(mk("Evaluate Emma."), 1);
  ASSERT_TRUE(r.ok()) << r.summary;
  auto argv = last_call()["argv"];
  EXPECT_EQ(argv[2], "json");
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--verbose"), 0);
}

TEST_F(claude_executor_test, every_failure_mode_is_classified_in_both_formats) {
  for (auto format : {"stream-json", "json"}) {
    SCOPED_TRACE(format);
    settings.output_format = format;
    check_failure_table();
  }
}

TEST_F(claude_executor_test, an_api_retry_is_heard_while_the_cli_waits) {
  // The fake reports a 429 that it retries after 400 ms, then succeeds.
  std::vector<api_retry_event> heard;
  std::chrono::steady_clock::time_point heard_at;
  run_hooks hooks;
  hooks.on_api_retry = [&](const api_retry_event& ev) {
    heard.push_back(ev);
    heard_at = std::chrono::steady_clock::now();
  };
  auto r = make().run(mk("Evaluate. FAKE_CLAUDE:retry:429:400"), 1, hooks);
  auto done_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(r.ok()) << r.summary;
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].status, 429);
  EXPECT_EQ(heard[0].delay_ms, 400);
  EXPECT_EQ(heard[0].task_id, "eval-001");
  EXPECT_EQ(heard[0].model, "claude-sonnet-4-5");
  // Heard before the CLI's own wait was over, not when the run ended.
  EXPECT_GE(done_at - heard_at, std::chrono::milliseconds(400));
  EXPECT_EQ(r.extra["api_retries"],
            json::parse(R"([{"status": 429, "delay_ms": 400, "attempt": 1}])"));
  // Two requests went out: the one refused, and the answer.
  EXPECT_EQ(r.extra["api_requests"], 2);
}

TEST_F(claude_executor_test, a_silent_cli_is_stalled_before_its_deadline) {
  settings.stall_s = 0.5; // the fake prints its init event, then hangs
  auto r = make().run(mk("FAKE_CLAUDE:hang"), 1);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, "stalled") << r.error->message;
  EXPECT_LT(r.duration_ms, 10000); // the deadline is 30 s
}

TEST_F(claude_executor_test, answer_without_report_block_becomes_the_summary) {
  auto r = make().run(mk("FAKE_CLAUDE:plain"), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.summary, "I have completed the task described.");
  EXPECT_TRUE(r.artifacts.empty());
}

TEST_F(claude_executor_test, hang_is_killed_at_its_deadline_with_its_children) {
  auto t = mk("FAKE_CLAUDE:hang");
  t.timeout_s = 1;
  auto r = make().run(t, 1);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, "timeout");
  EXPECT_GE(r.duration_ms, 1000);
  EXPECT_LT(r.duration_ms, 10000);
  pid_t child = 0;
  std::ifstream(root / "auth-homes/marie/.claude/fake-hang-child.pid") >> child;
  ASSERT_GT(child, 0);
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  if (fd < 0) {
    EXPECT_EQ(errno, ESRCH);
    return;
  }
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1) << "the CLI's child survived";
  ::close(fd);
}

TEST_F(claude_executor_test, hostile_task_text_arrives_on_stdin_byte_for_byte) {
  auto t = mk("Évalue \"Emma\" l'élève; `id` $(touch /tmp/pwned) ${HOME} \\n\n"
              "line two\r\n\ttabbed | rm -rf / & echo $((1+1)) 'single' \"\"");
  auto r = make().run(t, 1);
  ASSERT_TRUE(r.ok()) << r.summary;
  EXPECT_EQ(last_call()["stdin"].get<std::string>(), compose_task_prompt(t));
  EXPECT_FALSE(fs::exists("/tmp/pwned"));
}

TEST_F(claude_executor_test, missing_cli_is_a_crash_with_the_reason) {
  settings.bin = "/nonexistent/claude";
  auto r = make().run(mk("x"), 1);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, "crashed");
  EXPECT_NE(r.error->message.find("No such file"), std::string::npos);
}

// Found by fuzz/fuzz_stream_json (fuzz/regressions/): a line whose "type"
// is a number threw from nlohmann's value() and took the runner down.
TEST(stream_json_reader, events_with_members_of_another_type_are_read_not_thrown) {
  stream_json_reader r{"t", "m", nullptr};
  EXPECT_NO_THROW(r.line(R"({"type": 5})"));
  EXPECT_NO_THROW(r.line(R"({"type": "system", "subtype": 7})"));
  EXPECT_NO_THROW(r.line(R"({"type": "assistant", "message": {"id": 3, "content": [
    {"type": 1}, {"type": "tool_use", "name": 2, "id": [], "input": {"file_path": 9}}]}})"));
  EXPECT_NO_THROW(r.line(R"({"type": "user", "message": {"content": [
    {"type": "tool_result", "tool_use_id": {}, "is_error": "no"}]}})"));
  EXPECT_EQ(r.events(), 4u);
  EXPECT_EQ(r.api_requests(), 0u); // an id that is not a string is no answer
  process_outcome o;
  o.started = true;
  o.exit_code = 0;
  o.out = R"({"type": "result", "subtype": 5, "is_error": "x", "session_id": 1})";
  result res;
  EXPECT_NO_THROW(classify_claude_outcome(o, res));
  ASSERT_TRUE(res.error);
}

namespace {
worker_config sim_worker() {
  worker_config w;
  w.name = "marie";
  return w;
}
task sim_task() {
  task t;
  t.task_id = "a";
  t.worker = "marie";
  t.description = "x";
  return t;
}
} // namespace

// A task's context is anyone's: the simulator's switches of another type
// are ignored, not thrown (it runs on the worker actor itself).
TEST(sim_executor, switches_of_another_type_are_ignored) {
  sim_executor sim{sim_settings{}, sim_worker()};
  auto t = sim_task();
  t.context = json::parse(R"({"sim_outcome": 5, "sim_error_kind": []})");
  result r;
  EXPECT_NO_THROW(r = sim.run(t, 1, {}));
  EXPECT_TRUE(r.ok());
}

TEST(sim_executor, a_run_stops_at_its_cap_having_spent_it) {
  auto w = sim_worker();
  sim_executor sim{sim_settings{}, w};
  auto t = sim_task();
  auto full = sim.run(t, 1, {});
  ASSERT_TRUE(full.ok());
  t.budget_usd = full.cost_usd / 2;
  auto capped = sim.run(t, 1, {});
  ASSERT_TRUE(capped.error);
  EXPECT_EQ(capped.error->kind, "budget");
  EXPECT_DOUBLE_EQ(capped.cost_usd, *t.budget_usd);
  // The worker's cap holds when the task has none.
  t.budget_usd.reset();
  w.max_budget_usd = full.cost_usd / 4;
  EXPECT_EQ(sim_executor(sim_settings{}, w).run(t, 1, {}).cost_usd, full.cost_usd / 4);
}

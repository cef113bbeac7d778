#include "core/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace troupe;

namespace {

problems decode(const std::string& text) {
  problems ps;
  config_from_json(json::parse(text), "/base", ps);
  return ps;
}

} // namespace

TEST(config, minimal_config_gets_documented_defaults) {
  problems ps;
  auto cfg = config_from_json(
    json::parse(R"({"workers": {"marie": {"prompt": "p/DANCE.md"}}})"), "/base",
    ps);
  ASSERT_TRUE(cfg) << ps.at(0);
  auto& w = cfg->workers.at(0);
  EXPECT_EQ(w.prompt_path, "/base/p/DANCE.md");
  EXPECT_EQ(w.slots, 2);
  EXPECT_EQ(w.executor, "claude");
  EXPECT_EQ(w.deadline_s, 900);
  EXPECT_TRUE(w.limits.unlimited());
  EXPECT_EQ(cfg->claude.bin, "claude");
  EXPECT_EQ(cfg->claude.max_retries, 1);
  EXPECT_EQ(cfg->sim.latency_ms, 200);
  EXPECT_EQ(cfg->claude.output_format, "stream-json");
  EXPECT_EQ(cfg->claude.stall_s, 300);
  EXPECT_EQ(cfg->cooldown_s, 10);
  EXPECT_EQ(cfg->events_max_mb, 64);
  EXPECT_EQ(cfg->events_keep, 4);
  EXPECT_TRUE(cfg->gateway.enabled);
  EXPECT_EQ(cfg->gateway.host, "127.0.0.1");
  EXPECT_EQ(cfg->gateway.port, 0);
  EXPECT_EQ(cfg->gateway.upstream, "");
}

TEST(config, the_gateway_section_is_checked) {
  problems ps;
  auto cfg = config_from_json(
    json::parse(R"({"workers": {"m": {"prompt": "p"}},
                    "gateway": {"enabled": false, "port": 4100, "threads": 8, "window_wait_s": 30,
                                "upstream": "https://proxy.example/anthropic"}})"),
    "/b", ps);
  ASSERT_TRUE(cfg) << ps.at(0);
  EXPECT_FALSE(cfg->gateway.enabled);
  EXPECT_EQ(cfg->gateway.port, 4100);
  EXPECT_EQ(cfg->gateway.threads, 8);
  EXPECT_EQ(cfg->gateway.window_wait_s, 30);
  EXPECT_EQ(cfg->gateway.upstream, "https://proxy.example/anthropic");
  ps.clear();
  EXPECT_FALSE(config_from_json(
    json::parse(R"({"workers": {"m": {"prompt": "p"}},
                    "gateway": {"upstream": "ftp://x", "port": 70000, "tls": 1}})"),
    "/b", ps));
  ASSERT_EQ(ps.size(), 3u);
  EXPECT_NE(ps[0].find("gateway.port"), std::string::npos);
  EXPECT_NE(ps[1].find("gateway.upstream"), std::string::npos);
  EXPECT_NE(ps[2].find("gateway.tls"), std::string::npos);
}

TEST(config, prices_are_read_most_specific_first_and_checked) {
  problems ps;
  auto cfg = config_from_json(
    json::parse(R"({"workers": {"m": {"prompt": "p"}},
                    "prices": {"my": {"input": 2, "output": 8},
                               "my-model-large": {"input": 4, "output": 20,
                                                  "cache_read": 1}}})"),
    "/b", ps);
  ASSERT_TRUE(cfg) << ps.at(0);
  ASSERT_EQ(cfg->prices.size(), 2u);
  EXPECT_EQ(cfg->prices[0].first, "my-model-large");
  EXPECT_EQ(cfg->prices[0].second.cache_read, 1);
  // Unnamed cache rates follow the API's multiples of the input rate.
  EXPECT_DOUBLE_EQ(cfg->prices[0].second.cache_write, 5);
  EXPECT_DOUBLE_EQ(cfg->prices[1].second.cache_read, 0.2);
  EXPECT_EQ(price_of("my-model-large-2", cfg->prices).output, 20);
  EXPECT_EQ(price_of("my-model-small", cfg->prices).output, 8);
  ps.clear();
  EXPECT_FALSE(config_from_json(
    json::parse(R"({"workers": {"m": {"prompt": "p"}},
                    "prices": {"x": {"output": 5}, "y": {"input": -1, "output": 1}}})"),
    "/b", ps));
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_NE(ps[0].find("prices.x.input"), std::string::npos) << ps[0];
  EXPECT_NE(ps[1].find("prices.y.input"), std::string::npos) << ps[1];
}

TEST(config, event_log_rotation_is_configurable_and_checked) {
  problems ps;
  auto cfg = config_from_json(
    json::parse(R"({"workers": {"marie": {"prompt": "x"}},
                    "events": {"max_mb": 8, "keep": 0}})"),
    "/base", ps);
  ASSERT_TRUE(cfg) << ps.at(0);
  EXPECT_EQ(cfg->events_max_mb, 8);
  EXPECT_EQ(cfg->events_keep, 0);
  EXPECT_EQ(decode(R"({"workers": {"marie": {"prompt": "x"}},
              "events": {"max_mb": 0, "kept": 2}})"),
            (problems{"events.max_mb 0: must be an integer from 1 to 1048576",
                      "events.kept: unknown key"}));
}

TEST(config, bad_values_name_the_key_path) {
  EXPECT_EQ(decode(R"({"workers": {"marie": {"prompt": "x", "slots": 0}}})"),
            problems{"workers.marie.slots 0: must be an integer from 1 to 256"});
  EXPECT_EQ(decode(R"({"workers": {"marie": {"prompt": "x", "executor": "gpt"}}})"),
            problems{"workers.marie.executor \"gpt\": must be one of claude, "
                     "command, sim"});
  EXPECT_EQ(decode(R"({"workers": {"marie": {"prompt": "x",
              "limits": {"requests_per_min": -5}}}})"),
            problems{"workers.marie.limits.requests_per_min -5: must be a "
                     "number >= 0"});
  EXPECT_EQ(decode(R"({"workers": {"marie": {"prompt": "x"}},
              "executors": {"sim": {"latency_ms": "fast"}}})"),
            problems{"executors.sim.latency_ms \"fast\": must be an integer "
                     "from 0 to 3600000"});
}

TEST(config, unknown_keys_are_refused_with_their_path) {
  EXPECT_EQ(decode(R"({"workers": {"marie": {"prompt": "x", "slot": 3}}})"),
            problems{"workers.marie.slot: unknown key"});
  EXPECT_EQ(decode(R"({"workers": {"marie": {"prompt": "x"}}, "limit": {}})"),
            problems{"limit: unknown key"});
  // The cooldown belongs to the account, not to one worker.
  EXPECT_EQ(decode(R"({"workers": {"marie": {"prompt": "x",
              "limits": {"cooldown_s": 5}}}, "limits": {"cooldown_s": 5}})"),
            problems{"workers.marie.limits.cooldown_s: unknown key"});
}

TEST(config, claude_output_format_is_json_or_stream_json) {
  EXPECT_TRUE(decode(R"({"workers": {"marie": {"prompt": "x"}},
              "executors": {"claude": {"output_format": "json", "stall_s": 0}}})")
                .empty());
  EXPECT_EQ(decode(R"({"workers": {"marie": {"prompt": "x"}},
              "executors": {"claude": {"output_format": "text"}}})"),
            problems{"executors.claude.output_format \"text\": must be json "
                     "or stream-json"});
}

TEST(config, missing_and_bad_workers) {
  EXPECT_EQ(decode(R"({})"), problems{"workers: required"});
  EXPECT_EQ(decode(R"({"workers": {"marie": {}}})"),
            problems{"workers.marie.prompt: required"});
  EXPECT_EQ(decode(R"({"workers": {"../evil": {"prompt": "x"}}})").at(0),
            "workers.../evil: worker name must match "
            "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
}

TEST(config, shipped_config_is_valid_and_its_prompts_exist) {
  problems ps;
  auto cfg = load_config(TROUPE_SOURCE_DIR "/config/troupe.json", ps);
  ASSERT_TRUE(cfg) << ps.at(0);
  EXPECT_TRUE(check_config_files(*cfg, ps)) << ps.at(0);
  EXPECT_EQ(cfg->worker_names(), (std::set<std::string>{"anga", "fabien", "marie"}));
}

TEST(config, missing_prompt_file_is_reported) {
  problems ps;
  auto cfg = config_from_json(
    json::parse(R"({"workers": {"marie": {"prompt": "nope.md"}}})"),
    "/nonexistent", ps);
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(check_config_files(*cfg, ps));
  EXPECT_EQ(ps.at(0),
            "workers.marie.prompt: file not found: /nonexistent/nope.md");
}

TEST(config, a_broken_sub_agent_is_reported_under_its_worker) {
  auto dir = std::filesystem::temp_directory_path()
             / ("troupe-cfg-agents-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "agents");
  std::ofstream{dir / "agents/x.md"} << "no front matter";
  std::ofstream{dir / "p.md"} << "prompt";
  problems ps;
  auto cfg = config_from_json(
    json::parse(R"({"workers": {"marie": {"prompt": "p.md", "agents": "agents"}}})"),
    dir.string(), ps);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->workers.at(0).agents_dir, (dir / "agents").string());
  EXPECT_FALSE(check_config_files(*cfg, ps));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0], "workers.marie.agents: " + (dir / "agents/x.md").string()
                     + ": must start with a front-matter block (---)");
  std::filesystem::remove_all(dir);
}

#pragma once

// config/troupe.json: the workers, the orchestrator, the limits and the
// executors. Every value has a default (docs/CONFIG.md); a bad value or an
// unknown key is refused with the path of the key, e.g.
//   workers.marie.slots 0: must be an integer from 1 to 256

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/json_codec.hpp"
#include "core/pricing.hpp"

namespace troupe {

/// Per-minute ceilings of the three meters; 0 means "no limit".
struct rate_limits {
  double requests_per_min = 0;
  double input_tokens_per_min = 0;
  double output_tokens_per_min = 0;

  bool unlimited() const {
    return requests_per_min == 0 && input_tokens_per_min == 0
           && output_tokens_per_min == 0;
  }
};

struct worker_config {
  std::string name;
  std::string prompt_path; // absolute, resolved against the config's folder
  std::string role;
  std::vector<std::string> keywords;
  std::string model = "claude-sonnet-4-5";
  int slots = 2;
  std::string executor = "claude";
  double deadline_s = 900;
  int max_turns = 30;
  int max_attempts = 1;
  std::optional<double> max_budget_usd;
  std::string api_key_env;          // env var of the node holding this key
  std::vector<std::string> tools;   // empty: the CLI's default tool set
  // What the CLI may do without asking (core/permissions.hpp): print mode
  // has nobody to approve a tool, so these are all the grants there are.
  std::string permission_mode = "acceptEdits";
  std::vector<std::string> allowed_tools;
  std::vector<std::string> disallowed_tools;
  std::vector<std::string> add_dirs; // relative to the root, or absolute
  std::string on_denial = "fail";    // or "report"
  std::string agents_dir; // sub-agent definitions (core/agents.hpp), absolute
  rate_limits limits;
  /// Every task of this worker waits for a person's approval first.
  bool approve = false;
};

struct orchestrator_config {
  std::string prompt_path;
  std::string model = "claude-sonnet-4-5";
  std::string executor = "claude";
  double deadline_s = 300;
  size_t max_tasks = 50;
  size_t max_depth = 10;
  int64_t retry_base_ms = 2000; // first retry after about this long
  int64_t retry_max_ms = 60000; // backoff ceiling
  int max_turns = 3;             // planning and synthesis need no tools
  int plan_attempts = 3;         // a refused plan is sent back twice
  std::string api_key_env;

  /// The planner and synthesiser as a worker of its own ("orchestrator"):
  /// one slot, no tools, this prompt, model, deadline and key.
  worker_config as_worker() const;
};

struct claude_settings {
  std::string bin = "claude";
  int max_retries = 1;                 // CLAUDE_CODE_MAX_RETRIES
  /// "stream-json" (events as they happen: API retries with their wait,
  /// stall detection) or "json" (one object at the end).
  std::string output_format = "stream-json";
  double stall_s = 300; // stream-json only: kill after this long silent; 0 off
  size_t max_output_bytes = 8u << 20;  // stdout beyond this is cut: bad_output
  int kill_grace_ms = 2000;            // SIGTERM, then SIGKILL after this
  std::vector<std::string> pass_env{"ANTHROPIC_BASE_URL"};
  /// Input tokens a run's first request holds besides the worker's prompt
  /// and the task: the CLI's tool schemas, own prompt and environment, and
  /// troupe's task framing (14.9k measured with 2.1.328). With the prompt,
  /// what a warm cache serves. The first estimate of a worker's cold run,
  /// before its own averages take over.
  int64_t overhead_tokens = 15000;
  /// Set at start-up, not in the file: the gateway every run goes through
  /// (ANTHROPIC_BASE_URL), each request tagged with its task. Empty: none.
  std::string gateway_url;
};

struct command_settings {
  std::vector<std::string> argv;
  size_t max_output_bytes = 8u << 20;
  int kill_grace_ms = 2000;
};

struct sim_settings {
  int latency_ms = 200;
  int64_t input_tokens = 1500;
  int64_t output_tokens = 400;
  double usd_per_mtok_in = 3.0;
  double usd_per_mtok_out = 15.0;
};

/// The gateway between the workers' CLIs and the API (docs/CONFIG.md).
struct gateway_settings {
  bool enabled = true;
  std::string host = "127.0.0.1";
  int port = 0; // 0: any free port
  /// Where requests go: scheme, host and an optional path prefix. Empty:
  /// the node's ANTHROPIC_BASE_URL, else the API.
  std::string upstream;
  std::string ca_file; // empty: the system's certificates
  /// Requests served at once, held ones included (each holds a thread).
  int threads = 32;
  /// A subscription window that rejects the account and resets within
  /// this is waited out at the gateway; a later reset reaches the CLI.
  double window_wait_s = 120;
  /// `caf-node run --record DIR`: each answered request is kept there;
  /// `--replay DIR`: a request found there is answered from it (the
  /// others go upstream). Paths in requests that name this run's root
  /// (`volatile_paths`) do not count in the key.
  std::string record_dir, replay_dir;
  std::vector<std::string> volatile_paths;
  /// Set at start-up from the config's prices: what each response costs.
  price_table prices;
};

/// The API itself, when neither the gateway nor the node names another.
inline constexpr const char* anthropic_api_url = "https://api.anthropic.com";

struct config {
  std::vector<worker_config> workers;
  orchestrator_config orchestrator;
  rate_limits limits;
  /// How long the account waits after a 429 whose retry-after is unknown
  /// (the json output format, or a CLI that made no retry).
  double cooldown_s = 10;
  /// A spend limit whose message names its end within this is waited for
  /// (the account parked, the task run again then); a later one parks the
  /// worker until someone acts.
  double spend_wait_s = 3600;
  /// The account's cap per UTC day (USD; 0: none): once the day's spend,
  /// kept in <root>/spend/, reaches it, claude workers park (spend_cap)
  /// until the day turns.
  double spend_per_day_usd = 0;
  claude_settings claude;
  gateway_settings gateway;
  /// The user's prices (USD per million tokens), before the list's.
  price_table prices;
  command_settings command;
  sim_settings sim;
  /// A run's events.jsonl is rotated past this size (a long-running node
  /// appends to one log for its whole session), keeping this many old ones.
  int64_t events_max_mb = 64;
  int events_keep = 4;
  /// What a complete result's files may weigh when they travel to the
  /// orchestrator and on to a dependent's node (docs/PROTOCOL.md §10); 0:
  /// none travel.
  int64_t handoff_max_kb = 1024;
  std::string source; // the file it came from, or "(defaults)"

  const worker_config* find_worker(const std::string& name) const;
  std::set<std::string> worker_names() const;
};

/// Decodes a config object; `base_dir` resolves relative prompt paths.
std::optional<config> config_from_json(const json& j,
                                       const std::string& base_dir,
                                       problems& out);

/// Reads and decodes a config file.
std::optional<config> load_config(const std::string& path, problems& out);

/// Checks that every prompt file exists (a separate step, so `validate` can
/// report it and unit tests can decode configs without files).
bool check_config_files(const config& cfg, problems& out);

} // namespace troupe

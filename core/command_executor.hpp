#pragma once

// Runs any other agent CLI from an argv template, under the same supervision
// as the Claude executor. Placeholders: {prompt_file}, {system_prompt_file},
// {model}, {task_id}, {worker}. The task text also goes to stdin.

#include "core/executor_common.hpp"

namespace troupe {

class command_executor : public executor {
public:
  command_executor(command_settings s, worker_config w, worker_paths p);

  result run(const task& t, int attempt,
             const run_hooks& hooks = {}) const override;
  std::string kind() const override { return "command"; }

private:
  command_settings settings_;
  worker_config worker_;
  worker_paths paths_;
  worker_files files_;
  bool needs_prompt_file_ = false;
  bool passes_model_ = false; // the template has {model}
};

} // namespace troupe

#pragma once

// Live progress on stderr: one line per task state change, and a progress
// bar redrawn below them when stderr is a terminal.

#include <cstddef>
#include <string>

#include "actors/messages.hpp"

namespace troupe::node {

class progress_printer {
public:
  /// `bar`: draw a progress bar (when stderr is a terminal).
  explicit progress_printer(size_t total, bool bar = true);

  void on_event(const task_event& e);

  /// Clears the bar (before the report goes out).
  void close();

private:
  void draw_bar();

  size_t total_;
  size_t complete_ = 0;
  size_t failed_ = 0;
  size_t running_ = 0;
  bool tty_;
};

} // namespace troupe::node

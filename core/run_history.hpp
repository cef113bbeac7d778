#pragma once

// The history estimates learn from: every complete, not simulated result of
// a root, in results/<worker>/ and in the reports under runs/ (a task id run
// again overwrites its file in results/, its earlier reports stay). Each
// result counts once, however many reports name it (a reused result is in
// the report of every run that reused it).

#include <string>

#include "core/estimate.hpp"

namespace troupe {

/// Reads `root`'s history, by worker, oldest first.
run_history load_history(const std::string& root);

} // namespace troupe

#pragma once

// Running a workflow again in the same root: a task whose complete result
// is already in results/ is not run again, when it is the same task (its
// digest, kept in the result, matches) and every task it builds on is not
// run again either (else its inputs may differ). `run --fresh` runs all.

#include <map>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace troupe {

/// Where a result keeps the digest of the task it answers.
inline constexpr const char* task_digest_key = "task_digest";

/// SHA-256 of the task as the workflow gives it (its JSON form): what it
/// asks, of whom, with what, after what.
std::string task_digest(const task& t);

/// Of `complete` (task id → the digest its complete result records), the
/// tasks of `wf` that need not run again: same digest, and every
/// dependency among them too.
std::vector<std::string>
reusable_tasks(const workflow& wf, const std::map<std::string, std::string>& complete);

/// The complete results in <root>/results/ that `wf` may reuse, read from
/// the files (reusable_tasks decides).
std::vector<result> prior_results(const workflow& wf, const std::string& root);

} // namespace troupe

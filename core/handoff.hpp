#pragma once

// Files handed from a dependency to its dependents across nodes
// (docs/PROTOCOL.md §10). A worker node sees only its own workspace, so the
// files a complete result names travel with it to the orchestrator (the
// RESULT's "files"), are kept there under artifacts/<worker>/<task_id>/, and
// go on with each dependent's TASK ("inputs") into the dependent's workspace
// under inputs/<dependency>/. No sockets here: the broker and the worker
// node call these at the points where they send and receive.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"

namespace troupe {

/// The folder of a dependent's workspace its inputs are written to.
inline constexpr const char* inputs_folder = "inputs";

/// Base64 (RFC 4648, with padding), through OpenSSL.
std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

/// A name a file may be kept under: relative, without `.`/`..` or empty
/// parts. Empty when acceptable, else why not.
std::string check_handoff_name(const std::string& name);

/// Worker side: the files of a complete result that are inside the
/// worker's workspace (root/workspaces/<worker>), as
/// [{"path": <as the result names it>, "name": <relative to the workspace>,
///   "sha256", "data": <base64>}], in the result's order until `max_bytes`
/// of file content; the ones left out are named in `left_out`.
json pack_result_files(const result& r, const std::string& root,
                       size_t max_bytes, std::vector<std::string>& left_out);

/// Orchestrator side: keeps packed files under
/// root/artifacts/<worker>/<task_id>/<name> (a previous attempt's copies go
/// first). Each entry is checked (name, base64, sha256); a bad one, and
/// those past `max_bytes` of content, are skipped and described in the
/// returned problems.
std::vector<std::string> store_result_files(const json& files,
                                            const std::string& worker,
                                            const std::string& task_id,
                                            const std::string& root,
                                            size_t max_bytes);

/// The folder an orchestrator keeps a task's files in.
std::string handoff_dir(const std::string& root, const std::string& worker,
                        const std::string& task_id);

/// Orchestrator side: the "inputs" of a dependent's TASK: for each file its
/// dependencies' results name in context.dependency_results, the kept copy,
/// as [{"dependency", "path", "name", "sha256", "data"}], until `max_bytes`.
/// Empty when there is nothing to hand on.
json task_inputs(const task& t, const std::string& root, size_t max_bytes);

/// Worker side: writes `inputs` into root/workspaces/<t.worker>/inputs/
/// <dependency>/<name> and points the task's dependency_results artifacts
/// at them (relative to root). Returns the problems with bad entries.
std::vector<std::string> place_inputs(task& t, const json& inputs,
                                      const std::string& root);

} // namespace troupe

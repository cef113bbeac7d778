#pragma once

// The key of a recorded API exchange: what of a request decides its
// answer, and is the same on every run of the same work. A replay answers a
// request whose key is in the recording; any other goes to the API.

#include <string>
#include <string_view>
#include <vector>

namespace troupe {

/// The request's JSON with its keys sorted, without what names one run
/// rather than its work (`metadata`: the CLI's session; the CLI's
/// <system-reminder> blocks: tokens left, the date), and with each of
/// `volatile_paths` (the node's root, under which workspaces and auth homes
/// live) written "<root>". A body that is not JSON is taken as it is.
std::string replay_text(std::string_view body,
                        const std::vector<std::string>& volatile_paths);

/// SHA-256 (hex) over the method, the path and replay_text.
std::string replay_key(std::string_view method, std::string_view path,
                       std::string_view body,
                       const std::vector<std::string>& volatile_paths);

} // namespace troupe

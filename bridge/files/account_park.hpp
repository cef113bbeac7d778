#pragma once

// A parked account, in the folders: the gateway writes it when a
// subscription window rejects the account, `caf-node status` reads it (the
// node need not answer). Past its reset it says nothing.

#include <cstdint>
#include <optional>
#include <string>

#include "core/json_codec.hpp"
#include "core/subscription_window.hpp"

namespace troupe {

/// <root>/tasks/.account-parked
std::string account_park_path(const std::string& root);

/// {"window": "five_hour", "until_ms": …}
void write_account_park(const std::string& path, const window_park& park);

/// The park, while it lasts: {"window", "until_ms", "in_s", "parked" (in
/// words)}; nullopt when none, or its reset has passed.
std::optional<json> read_account_park(const std::string& root, int64_t now_ms);

} // namespace troupe

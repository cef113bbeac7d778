#pragma once

// When a limit that needs a person (a spend limit) says it ends: the API's
// message names the moment ("You will regain access on 2027-01-01 at 00:00
// UTC."). A worker parked on it then waits for that moment, not for a
// restart.

#include <cstdint>
#include <optional>
#include <string_view>

namespace troupe {

/// Unix ms of the moment the message says access comes back; nullopt
/// when it names none.
std::optional<int64_t> regain_access_ms(std::string_view message);

} // namespace troupe

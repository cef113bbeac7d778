#pragma once

// Finds a troupe module (libtroupe-gateway.so, libtroupe-web.so) beside
// the caf-node binary or in ../lib/troupe/, and its entry point. A module
// is loaded once and never unloaded: its threads may outlive their object.

#include <string>

namespace troupe::node {

/// The entry point's address, or nullptr with `why`.
void* load_module_entry(const char* file_name, const char* entry, std::string& why);

} // namespace troupe::node

#pragma once

// The gateway as a loadable module (libtroupe-gateway.so): libcurl and
// cpp-httplib, with their dependencies, weigh about 8 MB of resident
// memory once loaded, so a node loads them only when it starts a gateway.
// What crosses the boundary: this interface and one C entry point.

#include <memory>
#include <string>

#include "bridge/gateway/gateway.hpp"

namespace troupe {

class gateway_api {
public:
  virtual ~gateway_api() = default;
  virtual bool start(std::string& error) = 0;
  virtual std::string url() const = 0;
  virtual void stop() = 0;
  virtual void abort_task(const std::string& worker, const std::string& task_id) = 0;
};

/// The module's file name, looked for beside the caf-node binary, then in
/// ../lib/troupe/.
inline constexpr const char* gateway_module_name = "libtroupe-gateway.so";
/// Its entry point: `gateway_api* troupe_gateway_make(const
/// gateway_settings&, const gateway_hooks&)`, to be deleted by the caller.
inline constexpr const char* gateway_module_entry = "troupe_gateway_make";
using gateway_make_fn = gateway_api* (*)(const gateway_settings&, const gateway_hooks&);

} // namespace troupe

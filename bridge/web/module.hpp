#pragma once

// The HTTP endpoint as a loadable module (libtroupe-web.so), as the gateway
// is: a node that serves no page carries no HTTP server.

#include <string>

#include "bridge/web/web_server.hpp"

namespace troupe {

class web_api {
public:
  virtual ~web_api() = default;
  virtual bool start(std::string& error) = 0;
  virtual std::string url() const = 0;
  virtual void publish(std::string event_json, const std::string& kind,
                       const std::string& worker) = 0;
  virtual void observe(const task_observation& t) = 0;
  virtual bool watched() const = 0;
  virtual void stop() = 0;
};

inline constexpr const char* web_module_name = "libtroupe-web.so";
/// `web_api* troupe_web_make(const web_settings&, const web_hooks&)`,
/// deleted by the caller.
inline constexpr const char* web_module_entry = "troupe_web_make";
using web_make_fn = web_api* (*)(const web_settings&, const web_hooks&);

} // namespace troupe

#pragma once

// Reads one JSON object field by field, type-checked, never throwing: each
// field of the wrong type or out of range becomes one problem that names
// it ("retry.max_attempts 0: must be an integer from 1 to 10"). The config
// file and the wire protocol's bodies are read with it.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace troupe {

using problems = std::vector<std::string>;

class json_reader {
public:
  /// `strict`: a key nobody asked for is a problem (a config file); else it
  /// is ignored (a wire body: forward compatibility).
  json_reader(const json& j, std::string path, problems& out, bool strict = true);
  /// It keeps a reference to `j`: a temporary would be gone at its first get.
  json_reader(json&&, std::string, problems&, bool = true) = delete;
  ~json_reader();

  json_reader(const json_reader&) = delete;
  json_reader& operator=(const json_reader&) = delete;

  /// The path of a key, as problems name it.
  std::string at(const std::string& key) const;
  /// The value of `key`, or null if absent (or the whole is no object).
  const json* get(const std::string& key);
  void fail(const std::string& key, const json& v, const std::string& why);
  /// Adds "<key>: required" if `key` is absent.
  bool require(const std::string& key);

  void str(const std::string& key, std::string& dst, bool allow_empty = false);
  void boolean(const std::string& key, bool& dst);
  void integer(const std::string& key, int64_t& dst, int64_t lo, int64_t hi);
  template <class Int>
  void integer(const std::string& key, Int& dst, int64_t lo, int64_t hi) {
    int64_t v = static_cast<int64_t>(dst);
    integer(key, v, lo, hi);
    dst = static_cast<Int>(v);
  }
  /// A finite number >= lo (> lo if lo_open).
  void number(const std::string& key, double& dst, double lo, bool lo_open);
  void strings(const std::string& key, std::vector<std::string>& dst);

  problems& out() { return out_; }
  /// No problem added since this reader was made.
  bool ok() const { return out_.size() == before_; }

private:
  const json& j_;
  std::string path_;
  problems& out_;
  bool strict_;
  size_t before_;
  std::set<std::string> seen_;
};

} // namespace troupe

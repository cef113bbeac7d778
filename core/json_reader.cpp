#include "core/json_reader.hpp"

#include <cmath>

namespace troupe {

json_reader::json_reader(const json& j, std::string path, problems& out, bool strict)
  : j_(j), path_(std::move(path)), out_(out), strict_(strict), before_(out.size()) {
  if (!j_.is_object())
    out_.push_back((path_.empty() ? std::string{"body"} : path_) + ": must be an object");
}

json_reader::~json_reader() {
  if (!strict_ || !j_.is_object())
    return;
  for (auto& [key, value] : j_.items())
    if (seen_.count(key) == 0)
      out_.push_back(at(key) + ": unknown key");
}

std::string json_reader::at(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

const json* json_reader::get(const std::string& key) {
  seen_.insert(key);
  if (!j_.is_object())
    return nullptr;
  auto i = j_.find(key);
  return i == j_.end() ? nullptr : &*i;
}

void json_reader::fail(const std::string& key, const json& v, const std::string& why) {
  // Replaced, not thrown: a parsed document holds valid UTF-8, but a cut
  // may split a character.
  auto s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60)
    s = s.substr(0, 57) + "...";
  out_.push_back(at(key) + " " + s + ": " + why);
}

bool json_reader::require(const std::string& key) {
  if (get(key))
    return true;
  if (j_.is_object())
    out_.push_back(at(key) + ": required");
  return false;
}

void json_reader::str(const std::string& key, std::string& dst, bool allow_empty) {
  if (auto v = get(key)) {
    if (v->is_string() && (allow_empty || !v->get_ref<const std::string&>().empty()))
      dst = v->get<std::string>();
    else
      fail(key, *v, allow_empty ? "must be a string" : "must be a non-empty string");
  }
}

void json_reader::boolean(const std::string& key, bool& dst) {
  if (auto v = get(key)) {
    if (v->is_boolean())
      dst = v->get<bool>();
    else
      fail(key, *v, "must be true or false");
  }
}

void json_reader::integer(const std::string& key, int64_t& dst, int64_t lo, int64_t hi) {
  if (auto v = get(key)) {
    // An unsigned above INT64_MAX is out of any range asked for here.
    bool in = v->is_number_integer()
              && !(v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX)
              && v->get<int64_t>() >= lo && v->get<int64_t>() <= hi;
    if (in)
      dst = v->get<int64_t>();
    else
      fail(key, *v,
           "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
}

void json_reader::number(const std::string& key, double& dst, double lo, bool lo_open) {
  if (auto v = get(key)) {
    auto ok = v->is_number() && std::isfinite(v->get<double>())
              && (lo_open ? v->get<double>() > lo : v->get<double>() >= lo);
    if (ok)
      dst = v->get<double>();
    else
      fail(key, *v, std::string{"must be a number "} + (lo_open ? "> " : ">= ")
                      + std::to_string(static_cast<int64_t>(lo)));
  }
}

void json_reader::strings(const std::string& key, std::vector<std::string>& dst) {
  if (auto v = get(key)) {
    bool ok = v->is_array();
    if (ok)
      for (auto& x : *v)
        ok = ok && x.is_string() && !x.get_ref<const std::string&>().empty();
    if (ok)
      dst = v->get<std::vector<std::string>>();
    else
      fail(key, *v, "must be an array of non-empty strings");
  }
}

} // namespace troupe

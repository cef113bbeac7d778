#include "core/timeline_svg.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "core/clock.hpp"

namespace troupe {

namespace {

// The dashboard's colours, so both pictures read the same.
const char* colour_of(const std::string& outcome) {
  static const std::map<std::string, const char*> colours{
    {"complete", "#2e9e5b"}, {"failed", "#d64545"},  {"cancelled", "#e08a1e"},
    {"rejected", "#8e5bd6"}, {"running", "#2f7ff0"}};
  auto i = colours.find(outcome);
  return i == colours.end() ? "#d64545" : i->second; // an earlier attempt failed
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s)
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  return out;
}

std::string num(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", x);
  return b;
}

} // namespace

std::optional<std::pair<int64_t, int64_t>> last_attempt_of(const json& r) {
  auto end = ms_of_rfc3339(string_member(r, "completed_at"));
  auto d = r.find("duration_ms");
  if (!end || d == r.end() || !d->is_number())
    return std::nullopt;
  return std::pair{*end - std::max<int64_t>(0, d->get<int64_t>()), *end};
}

std::vector<timeline_bar> timeline_bars(const json& results) {
  std::vector<timeline_bar> out;
  if (!results.is_array())
    return out;
  for (auto& r : results) {
    if (!r.is_object())
      continue;
    auto worker = string_member(r, "worker"), id = string_member(r, "task_id");
    auto ran = last_attempt_of(r);
    if (!ran)
      continue;
    auto end = &ran->second;
    // Earlier attempts, as a dead letter carries them (each with its end and
    // its own duration when known).
    if (auto a = r.find("attempts"); a != r.end() && a->is_array())
      for (auto& x : *a) {
        if (!x.is_object())
          continue;
        auto at = ms_of_rfc3339(string_member(x, "at"));
        auto xd = x.find("duration_ms");
        if (!at || xd == x.end() || !xd->is_number() || *at >= *end)
          continue; // the last one is the result itself
        out.push_back({worker, id + " #" + std::to_string(x.value("attempt", 0)),
                       *at - xd->get<int64_t>(), *at, string_member(x, "kind", "failed")});
      }
    out.push_back({worker, id, ran->first, ran->second, string_member(r, "status", "failed")});
  }
  return out;
}

std::string timeline_svg(const std::vector<timeline_bar>& bars) {
  constexpr int label_w = 110, width = 900, lane_h = 24, top = 28;
  if (bars.empty())
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"30\">"
           "<text x=\"4\" y=\"20\" font-family=\"sans-serif\" font-size=\"12\">"
           "No attempt ran.</text></svg>\n";
  std::set<std::string> lane_set;
  int64_t t0 = bars[0].from_ms, t1 = bars[0].to_ms;
  for (auto& b : bars) {
    lane_set.insert(b.lane);
    t0 = std::min(t0, b.from_ms);
    t1 = std::max(t1, b.to_ms);
  }
  std::vector<std::string> lanes{lane_set.begin(), lane_set.end()};
  auto span = static_cast<double>(std::max<int64_t>(1, t1 - t0));
  auto scale = (width - label_w - 10) / span;
  auto height = top + static_cast<int>(lanes.size()) * lane_h + 10;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width)
                  + "\" height=\"" + std::to_string(height)
                  + "\" font-family=\"sans-serif\" font-size=\"11\">\n"
                  + "<text x=\"4\" y=\"16\" font-size=\"12\">attempts over "
                  + num(span / 1000.0) + " s</text>\n";
  for (size_t i = 0; i < lanes.size(); ++i)
    s += "<text x=\"4\" y=\"" + std::to_string(top + static_cast<int>(i) * lane_h + 15) + "\">"
         + escape(lanes[i]) + "</text>\n";
  for (auto& b : bars) {
    auto lane = std::find(lanes.begin(), lanes.end(), b.lane) - lanes.begin();
    auto x = label_w + (b.from_ms - t0) * scale;
    auto w = std::max(2.0, (b.to_ms - b.from_ms) * scale);
    s += "<rect class=\"attempt\" x=\"" + num(x) + "\" y=\""
         + std::to_string(top + static_cast<int>(lane) * lane_h) + "\" width=\"" + num(w)
         + "\" height=\"18\" fill=\"" + colour_of(b.outcome) + "\"><title>" + escape(b.label)
         + ": " + escape(b.outcome) + ", " + num((b.to_ms - b.from_ms) / 1000.0)
         + " s</title></rect>\n";
  }
  return s + "</svg>\n";
}

} // namespace troupe

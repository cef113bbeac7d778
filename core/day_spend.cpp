#include "core/day_spend.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/json_codec.hpp"

namespace troupe {

namespace fs = std::filesystem;

std::string utc_day(int64_t unix_ms) {
  auto secs = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

int64_t next_utc_day_ms(int64_t unix_ms) {
  constexpr int64_t day_ms = 86'400'000;
  // Unix time has no leap seconds: every UTC day is 86,400 of its seconds.
  auto floor = unix_ms >= 0 ? unix_ms / day_ms : (unix_ms - day_ms + 1) / day_ms;
  return (floor + 1) * day_ms;
}

std::string day_spend_path(const std::string& root, const std::string& day) {
  return (fs::path{root} / "spend" / (day + ".json")).string();
}

day_spend read_day_spend(const std::string& root, const std::string& day) {
  day_spend d{day, 0, 0};
  std::ifstream in(day_spend_path(root, day));
  if (!in)
    return d;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object())
    return d;
  auto usd = j.find("usd");
  if (usd != j.end() && usd->is_number() && usd->get<double>() >= 0)
    d.usd = usd->get<double>();
  auto runs = j.find("runs");
  if (runs != j.end() && runs->is_number_integer() && runs->get<int64_t>() >= 0)
    d.runs = runs->get<int64_t>();
  return d;
}

day_spend book_day_spend(const std::string& root, const std::string& day,
                         double usd, std::string& error) {
  error.clear();
  auto dir = fs::path{root} / "spend";
  std::error_code ec;
  fs::create_directories(dir, ec);
  // The lock is a file of its own: the day's file is replaced by rename,
  // which a lock on it would not survive.
  int lock = ::open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock >= 0)
    ::flock(lock, LOCK_EX);
  auto d = read_day_spend(root, day);
  d.usd += usd;
  d.runs += 1;
  json j = {{"day", d.day}, {"usd", d.usd}, {"runs", d.runs}};
  error = write_file_atomic(day_spend_path(root, day), j.dump() + "\n");
  if (lock >= 0)
    ::close(lock); // releases the lock
  return d;
}

std::optional<int64_t> day_cap_holds_until(const day_spend& today,
                                           double cap_usd, int64_t now_ms) {
  if (cap_usd <= 0 || today.day != utc_day(now_ms) || today.usd < cap_usd)
    return std::nullopt;
  return next_utc_day_ms(now_ms);
}

} // namespace troupe

#include "core/event_ring.hpp"

#include <algorithm>

namespace troupe {

event_ring::event_ring(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

uint64_t event_ring::publish(std::string text) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> g{mx_};
    id = next_id_++;
    ring_.push_back({id, std::move(text)});
    if (ring_.size() > capacity_)
      ring_.pop_front();
  }
  cv_.notify_all();
  return id;
}

event_batch event_ring::after_locked(uint64_t after, size_t max) const {
  event_batch b;
  if (ring_.empty())
    return b;
  auto first = ring_.front().id;
  // A reader from before a restart (an id past ours) starts over.
  if (after >= next_id_)
    after = 0;
  if (after + 1 < first && after > 0)
    b.missed = first - after - 1;
  auto from = after < first ? 0 : static_cast<size_t>(after - first + 1);
  for (auto i = from; i < ring_.size() && b.events.size() < max; ++i)
    b.events.push_back(ring_[i]);
  return b;
}

event_batch event_ring::after(uint64_t after, size_t max) const {
  std::lock_guard<std::mutex> g{mx_};
  return after_locked(after, max);
}

event_batch event_ring::wait_after(uint64_t after, size_t max,
                                   std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> g{mx_};
  cv_.wait_for(g, wait, [&] {
    return closed_ || (!ring_.empty() && ring_.back().id > after)
           || (after >= next_id_ && !ring_.empty());
  });
  return after_locked(after, max);
}

void event_ring::close() {
  {
    std::lock_guard<std::mutex> g{mx_};
    closed_ = true;
  }
  cv_.notify_all();
}

bool event_ring::closed() const {
  std::lock_guard<std::mutex> g{mx_};
  return closed_;
}

uint64_t event_ring::last_id() const {
  std::lock_guard<std::mutex> g{mx_};
  return next_id_ - 1;
}

} // namespace troupe

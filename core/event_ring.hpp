#pragma once

// The last events a node published, numbered, for readers that come and go
// (the HTTP endpoint's event stream, resumable with Last-Event-ID). Writers
// never wait for readers: the oldest events are dropped once the ring is
// full, and a reader that asks for one of those is told how many it missed.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace troupe {

struct numbered_event {
  uint64_t id = 0; // 1, 2, ... in the order published
  std::string text;
};

/// What a reader gets after the event it last saw.
struct event_batch {
  std::vector<numbered_event> events;
  /// Events after `after` that were dropped before this read: the reader
  /// should refetch the state (the stream says so).
  uint64_t missed = 0;
};

class event_ring {
public:
  explicit event_ring(size_t capacity);
  /// Adds one; its id.
  uint64_t publish(std::string text);
  /// The events after id `after` (0: all kept), at most `max`.
  event_batch after(uint64_t after, size_t max) const;
  /// The same, waiting up to `wait` for one to come; also returns early
  /// once close() is called.
  event_batch wait_after(uint64_t after, size_t max, std::chrono::milliseconds wait);
  /// Wakes every waiting reader for good (the server stops).
  void close();
  bool closed() const;
  uint64_t last_id() const;

private:
  event_batch after_locked(uint64_t after, size_t max) const;
  mutable std::mutex mx_;
  std::condition_variable cv_;
  std::deque<numbered_event> ring_;
  size_t capacity_;
  uint64_t next_id_ = 1;
  bool closed_ = false;
};

} // namespace troupe

#pragma once

// An actor whose mailbox is a callback: a CAF actor_companion. Whatever is
// sent to it runs the callback at once, on the sending thread, so a thread
// that is not an actor (the broker's, a worker node's client) gets actors'
// messages without a hop through a scheduled actor: each such hop is a
// thread wake-up, tens of µs when it crosses cores on a VM.

#include <functional>

#include "caf/actor.hpp"
#include "caf/actor_control_block.hpp"
#include "caf/fwd.hpp"
#include "caf/mailbox_element.hpp"

namespace troupe {

class callback_actor {
public:
  /// `f` must be thread-safe: any sender's thread may run it.
  callback_actor(caf::actor_system& sys, std::function<void(caf::mailbox_element&)> f);
  /// Messages that still come are dropped; the actor ends.
  ~callback_actor();
  callback_actor(const callback_actor&) = delete;
  callback_actor& operator=(const callback_actor&) = delete;

  caf::actor handle() const;

private:
  caf::actor_system& sys_;
  caf::strong_actor_ptr self_;
};

} // namespace troupe

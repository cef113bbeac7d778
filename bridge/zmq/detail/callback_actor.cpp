#include "bridge/zmq/detail/callback_actor.hpp"

#include "caf/actor_companion.hpp"
#include "caf/actor_system.hpp"
#include "caf/scoped_execution_unit.hpp"

namespace troupe {

namespace {

caf::actor_companion* companion(const caf::strong_actor_ptr& p) {
  return static_cast<caf::actor_companion*>(caf::actor_cast<caf::abstract_actor*>(p));
}

} // namespace

callback_actor::callback_actor(caf::actor_system& sys,
                               std::function<void(caf::mailbox_element&)> f)
  : sys_(sys),
    self_(caf::actor_cast<caf::strong_actor_ptr>(sys.spawn<caf::actor_companion>())) {
  companion(self_)->on_enqueue([f = std::move(f)](caf::mailbox_element_ptr m) { f(*m); });
}

callback_actor::~callback_actor() {
  // As CAF's own Qt widget ends its companion.
  auto* c = companion(self_);
  c->on_enqueue(nullptr);
  caf::scoped_execution_unit ctx{&sys_};
  c->cleanup(caf::make_error(caf::exit_reason::user_shutdown), &ctx);
}

caf::actor callback_actor::handle() const {
  return caf::actor_cast<caf::actor>(self_);
}

} // namespace troupe

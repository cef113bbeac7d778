#include "bridge/zmq/remote_limiter.hpp"

#include "caf/all.hpp"

namespace troupe {

remote_limiter_actor::behavior_type
remote_limiter(remote_limiter_actor::stateful_pointer<remote_limiter_state> self,
               limiter_wire wire) {
  return {
    [=](permit_atom, permit_ask ask) -> caf::result<permit_ask> {
      auto& st = self->state;
      auto id = st.next++;
      auto rp = self->make_response_promise<permit_ask>();
      st.waiting.emplace(id, rp);
      st.asks.emplace(id, ask);
      wire.ask(id, ask);
      return rp;
    },
    [=](permit_atom, uint64_t id, permit_ask& granted) {
      auto& st = self->state;
      auto i = st.waiting.find(id);
      if (i == st.waiting.end()) {
        // A second grant for one ask (it was re-sent after a reconnection):
        // give its room back at once.
        wire.settle(granted, run_usage{0, 0, 0});
        return;
      }
      i->second.deliver(std::move(granted));
      st.waiting.erase(i);
      st.asks.erase(id);
    },
    [=](settle_atom, const permit_ask& p, const run_usage& used) {
      wire.settle(p, used);
    },
    [=](cooldown_atom, const std::string& model, int64_t wait_ms) {
      wire.cooldown(model, wait_ms);
    },
    [=](calibrate_atom, const std::string& model, const run_usage& left) {
      if (wire.calibrate)
        wire.calibrate(model, left);
    },
    [=](tick_atom) {
      // After a reconnection: asks not granted yet go out again.
      for (auto& [id, ask] : self->state.asks)
        wire.ask(id, ask);
    },
  };
}

} // namespace troupe

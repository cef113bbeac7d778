#include "bridge/remote_worker.hpp"

#include "caf/all.hpp"

namespace troupe {

namespace {

void deliver(remote_workers_state& st, uint64_t wire_ticket, result& r) {
  auto i = st.pending.find(wire_ticket);
  if (i == st.pending.end())
    return;
  i->second.rp.deliver(std::move(r), i->second.ticket);
  st.pending.erase(i);
}

} // namespace

remote_workers_actor::behavior_type
remote_workers(remote_workers_actor::stateful_pointer<remote_workers_state> self,
               std::function<void(broker_note)> post) {
  self->state.next = static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
  return {
    [=](task& t, uint64_t ticket) -> caf::result<result, uint64_t> {
      auto& st = self->state;
      auto rp = self->make_response_promise<result, uint64_t>();
      auto wire_ticket = st.next++;
      st.pending.emplace(wire_ticket, remote_workers_state::call{rp, ticket});
      auto wire = to_json(t).dump();
      post(broker_note{broker_note::dispatch{wire_ticket, std::move(t), std::move(wire)}});
      return rp;
    },
    [=](done_atom, uint64_t wire_ticket, result& r) {
      deliver(self->state, wire_ticket, r);
    },
    [=](done_atom, std::vector<ticketed_result>& rs) {
      for (auto& x : rs)
        deliver(self->state, x.ticket, x.r);
    },
    [=](stop_atom) { post(broker_note{broker_note::stop{}}); },
  };
}

caf::behavior permit_relay(caf::event_based_actor* self,
                           rate_limiter_actor limiter,
                           std::function<void(broker_note)> post) {
  return {
    [=](permit_atom, const std::string& node, uint64_t id, permit_ask ask) {
      self->request(limiter, caf::infinite, permit_atom_v, std::move(ask))
        .then([=](permit_ask& granted) {
          post(broker_note{broker_note::grant{node, id, std::move(granted)}});
        });
    },
  };
}

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
    [=](tick_atom) {
      // After a reconnection: asks not granted yet go out again.
      for (auto& [id, ask] : self->state.asks)
        wire.ask(id, ask);
    },
  };
}

} // namespace troupe

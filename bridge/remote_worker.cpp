#include "bridge/remote_worker.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "caf/all.hpp"
#include "core/json_text.hpp"

namespace troupe {

namespace {

void deliver(remote_workers_state& st, uint64_t wire_ticket, result& r) {
  auto i = st.pending.find(wire_ticket);
  if (i == st.pending.end())
    return;
  i->second.rp.deliver(std::move(r), i->second.ticket);
  st.pending.erase(i);
}

/// A worker node's result as it came over the wire. A node that sends one
/// that does not decode gets its task failed, not stuck (the broker has
/// freed its slot already).
result decode_result(const ticketed_result& x) {
  problems ps;
  if (auto j = parse_json_text(x.text, ps))
    if (auto r = result_from_json(*j, ps))
      return std::move(*r);
  task t;
  t.task_id = x.r.task_id;
  t.worker = x.r.worker;
  spdlog::warn("the result of {}/{} from its worker node does not decode: {}",
               t.worker, t.task_id, ps.empty() ? "" : ps.front());
  return make_failure(t, status::failed, "crashed",
                      "the worker node's result does not decode: "
                        + (ps.empty() ? std::string{} : ps.front()));
}

/// Decodes results for the proxy, on another scheduler thread.
result_decoder_actor::behavior_type
result_decoder(result_decoder_actor::pointer self, remote_workers_actor proxy) {
  return {
    [=](done_atom, std::vector<ticketed_result>& rs) {
      for (auto& x : rs) {
        x.r = decode_result(x);
        x.text.clear();
      }
      self->send(proxy, done_atom_v, std::move(rs));
    },
  };
}

/// Fewer results than this are decoded by the proxy itself: a lone result
/// (the round trip) takes no extra hop.
constexpr size_t decode_here = 8;

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
      std::string wire;
      append_json(wire, t);
      post(broker_note{broker_note::dispatch{wire_ticket, std::move(t), std::move(wire)}});
      return rp;
    },
    [=](done_atom, uint64_t wire_ticket, result& r) {
      deliver(self->state, wire_ticket, r);
    },
    [=](done_atom, std::vector<ticketed_result>& rs) {
      auto& st = self->state;
      auto undecoded = std::count_if(rs.begin(), rs.end(),
                                     [](auto& x) { return !x.text.empty(); });
      if (static_cast<size_t>(undecoded) >= decode_here) {
        // Many at once: decoding is the work here, spread it over the
        // scheduler's threads; they come back decoded.
        if (st.decoders.empty())
          for (size_t i = 0; i < self->system().scheduler().num_workers(); ++i)
            st.decoders.push_back(self->spawn<caf::linked>(
              result_decoder, caf::actor_cast<remote_workers_actor>(self)));
        auto n = st.decoders.size();
        auto per = (rs.size() + n - 1) / n;
        for (size_t i = 0, d = 0; i < rs.size(); i += per, ++d) {
          std::vector<ticketed_result> part(
            std::make_move_iterator(rs.begin() + i),
            std::make_move_iterator(rs.begin() + std::min(rs.size(), i + per)));
          self->send(st.decoders[d], done_atom_v, std::move(part));
        }
        return;
      }
      for (auto& x : rs) {
        if (!x.text.empty())
          x.r = decode_result(x);
        deliver(st, x.ticket, x.r);
      }
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

#include "bridge/zmq/remote_workers.hpp"
#include "core/outcome.hpp"

#include <atomic>
#include <chrono>

#include <spdlog/spdlog.h>

#include "caf/all.hpp"
#include "core/json_text.hpp"

namespace troupe {

void answer(const reply_address& to, result r, caf::execution_unit* ctx) {
  if (to.to)
    to.to->enqueue(caf::make_mailbox_element(nullptr, to.mid.response_id(), {},
                                             std::move(r), to.ticket),
                   ctx);
}

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
  return make_failure(t, status::failed, kind::crashed,
                      "the worker node's result does not decode: "
                        + (ps.empty() ? std::string{} : ps.front()));
}

void answer(ticketed_result& x, caf::execution_unit* ctx) {
  answer(x.reply, x.text.empty() ? std::move(x.r) : decode_result(x), ctx);
}

result_decoder_actor::behavior_type result_decoder(result_decoder_actor::pointer self) {
  return {
    [=](done_atom, std::vector<ticketed_result>& rs) {
      for (auto& x : rs)
        answer(x, self->context());
    },
  };
}

remote_workers::remote_workers(caf::actor_system& sys,
                               std::function<void(broker_note)> post) {
  for (size_t i = 0; i < sys.scheduler().num_workers(); ++i)
    decoders_.push_back(sys.spawn(result_decoder));
  // Tickets never repeat across restarts (the clock in µs as the start): a
  // late result from before a restart cannot pass for a new task's.
  auto next = std::make_shared<std::atomic<uint64_t>>(static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count()));
  // Runs on the sending actor's thread (any thread): only posts.
  proxy_ = std::make_unique<callback_actor>(sys, [post, next](caf::mailbox_element& m) {
    auto& x = m.content();
    if (x.match_elements<task, uint64_t>()) {
      auto t = x.move_if_unshared<task>(0);
      reply_address reply{m.sender, m.mid, x.get_as<uint64_t>(1)};
      std::string wire;
      append_json(wire, t);
      post(broker_note{broker_note::dispatch{next->fetch_add(1), std::move(t),
                                             std::move(wire), std::move(reply)}});
    } else if (x.match_elements<stop_atom>()) {
      post(broker_note{broker_note::stop{}});
    } else if (x.match_elements<cancel_atom, std::string>()) {
      post(broker_note{broker_note::cancel{x.get_as<std::string>(1)}});
    }
  });
}

remote_workers::~remote_workers() {
  proxy_.reset();
  for (auto& d : decoders_)
    caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
}

worker_actor remote_workers::handle() const {
  return caf::actor_cast<worker_actor>(proxy_->handle());
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

} // namespace troupe

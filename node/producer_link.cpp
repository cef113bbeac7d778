#include "node/producer_link.hpp"

#include <cstdio>

#include <zmq.hpp>

#include "bridge/zmq/curve.hpp"
#include "bridge/zmq/connection_watch.hpp"
#include "bridge/zmq/frames.hpp"
#include "node/bridge_options.hpp"
#include "node/commands.hpp"

namespace troupe::node {

struct producer_link::impl {
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::dealer};
  std::string endpoint;
  std::optional<zmqx::connection_watch> watch;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

producer_link::producer_link(std::string endpoint,
                             std::shared_ptr<const zmqx::curve_client> curve)
  : p_(std::make_unique<impl>()) {
  p_->endpoint = std::move(endpoint);
  p_->sock.set(zmq::sockopt::linger, 1000);
  if (curve)
    zmqx::make_client(p_->sock, *curve);
  p_->watch.emplace(p_->ctx, p_->sock, curve != nullptr);
  p_->sock.connect(p_->endpoint);
}

producer_link::~producer_link() {
  // Never connected: what waits in the queue must not leave after we said
  // it did not.
  if (!reached())
    p_->sock.set(zmq::sockopt::linger, 0);
}

void producer_link::send(const wire::message& m) {
  zmqx::send_frames(p_->sock, wire::encode(m));
}

std::optional<wire::message>
producer_link::recv(std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  auto& watch = *p_->watch;
  zmq::pollitem_t items[] = {{p_->sock.handle(), 0, ZMQ_POLLIN, 0},
                             {watch.socket().handle(), 0, ZMQ_POLLIN, 0}};
  auto deadline = clock::now() + timeout;
  constexpr auto reason_wait = std::chrono::milliseconds(200);
  std::optional<clock::time_point> refused_at;
  for (;;) {
    auto now = clock::now();
    if (items[1].revents)
      watch.drain();
    // The same keys will be refused again: stop, once the reason is in
    // (it may follow the bare failure by a moment).
    if (watch.refused() && !refused_at)
      refused_at = now;
    if (watch.refused() && (watch.reason_known() || now >= *refused_at + reason_wait))
      return std::nullopt;
    // After a first connection, a drop is waited out: the DEALER reconnects.
    auto until = watch.was_ready() ? deadline
                                   : std::min(deadline, p_->started + connect_grace);
    if (refused_at)
      until = std::min(until, *refused_at + reason_wait);
    if (!watch.was_ready() && now >= p_->started + connect_grace)
      return std::nullopt;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
    if (left.count() < 0)
      return std::nullopt;
    zmq::poll(items, 2, left);
    if (!items[0].revents)
      continue;
    auto frames = zmqx::recv_frames(p_->sock);
    std::string err;
    if (auto m = wire::decode(frames, err))
      return m;
  }
}

bool producer_link::reached() const {
  return p_->watch->was_ready();
}

std::string producer_link::problem() const {
  auto& watch = *p_->watch;
  if (watch.ready())
    return {};
  if (!watch.problem().empty())
    return watch.problem();
  return "no connection came up within "
         + std::to_string(connect_grace.count() / 1000) + " s";
}

std::string producer_link::silence(const std::string& what) const {
  auto why = problem();
  return "no " + what + " from " + p_->endpoint + (why.empty() ? "" : ": " + why);
}

int ask_orchestrator(const std::string& endpoint, const curve_options& curve_opts,
                     wire::command cmd, const json& body) {
  std::shared_ptr<const zmqx::curve_client> curve;
  if (!load_curve_client(curve_opts, curve))
    return exit_usage;
  producer_link link{endpoint, curve};
  link.send({wire::name(cmd), body});
  auto answer = link.recv(std::chrono::seconds(30));
  if (!answer) {
    std::fprintf(stderr, "error: %s\n", link.silence("answer").c_str());
    return exit_failed;
  }
  if (answer->cmd == wire::name(wire::command::error)) {
    std::fprintf(stderr, "error: %s\n", string_member(answer->body, "reason").c_str());
    return exit_failed;
  }
  std::printf("%s\n", answer->body.dump(2).c_str());
  return exit_ok;
}

} // namespace troupe::node

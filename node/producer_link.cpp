#include "node/producer_link.hpp"

#include <zmq.hpp>

#include "bridge/zmq_support.hpp"

namespace troupe::node {

struct producer_link::impl {
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::dealer};
};

producer_link::producer_link(const std::string& endpoint,
                             std::shared_ptr<const zmqx::curve_client> curve)
  : p_(std::make_unique<impl>()) {
  p_->sock.set(zmq::sockopt::linger, 1000);
  if (curve)
    zmqx::make_client(p_->sock, *curve);
  p_->sock.connect(endpoint);
}

producer_link::~producer_link() = default;

void producer_link::send(const wire::message& m) {
  zmqx::send_frames(p_->sock, wire::encode(m));
}

std::optional<wire::message>
producer_link::recv(std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{p_->sock.handle(), 0, ZMQ_POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() < 0)
      return std::nullopt;
    zmq::poll(&item, 1, left);
    if (!item.revents)
      continue;
    auto frames = zmqx::recv_frames(p_->sock);
    std::string err;
    if (auto m = wire::decode(frames, err))
      return m;
  }
}

} // namespace troupe::node

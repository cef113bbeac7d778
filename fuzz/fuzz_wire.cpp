// TRP1 messages as a peer sends them: the input is cut into frames at each
// 0xFF byte; a message that decodes is read as each command's body and its
// entries, and re-encoded to the same message.
#include <cstdlib>

#include "bridge/zmq/protocol.hpp"
#include "bridge/zmq/wire.hpp"

using namespace troupe;
using namespace troupe::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> frames(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0xFF)
      frames.emplace_back();
    else
      frames.back().push_back(static_cast<char>(data[i]));
  }
  std::string err;
  auto m = wire::decode(frames, err);
  if (!m)
    return 0;
  ready_body ready;
  event_body ev;
  permit_body permit;
  settle_body settle;
  cooldown_body cool;
  ack_body ack;
  reason_body reason;
  submit_body submit;
  task_ref ref;
  decode(m->body, ready, err);
  decode(m->body, ev, err);
  decode(m->body, permit, err, "ask");
  decode(m->body, settle, err);
  decode(m->body, cool, err);
  decode(m->body, ack, err);
  decode(m->body, reason, err);
  decode(m->body, submit, err);
  decode(m->body, ref, err);
  wire::entries(*m, "TASKS", "task");
  wire::entries(*m, "RESULTS", "result");
  wire::member(m->body, "task");
  auto again = wire::decode(wire::encode(*m), err);
  if (!again || again->cmd != m->cmd || again->body != m->body)
    std::abort(); // a message that does not survive its own encoding
  return 0;
}

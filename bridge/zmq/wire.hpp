#pragma once

// TRP1 messages (docs/PROTOCOL.md): frame 0 the protocol id, frame 1 the
// command, frame 2 a JSON object. Pure: no sockets here.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/zmq/protocol.hpp"

namespace troupe::wire {

struct message {
  std::string cmd; // as it came; command_of(cmd) names it
  json body = json::object();
};

/// The three frames of a message. Strings that are not UTF-8 (a peer's
/// bytes quoted back) are replaced, never thrown on.
std::vector<std::string> encode(const message& m);
std::vector<std::string> encode(command c, const json& body);

/// Reads frames as a peer sent them (envelope already removed); nullopt
/// with the reason in `error` if they are not a TRP1 message.
std::optional<message> decode(const std::vector<std::string>& frames,
                              std::string& error);

/// `{"<key>": <value>, "ticket": "<ticket>"}`: the body of a TASK ("task")
/// or a RESULT ("result"), and an entry of TASKS or RESULTS, with the value
/// already JSON text.
std::string ticketed_entry(uint64_t ticket, std::string_view key,
                           std::string_view value_json);

/// The entries a TASK/TASKS or RESULT/RESULTS message carries: the body
/// itself unless the command is `plural`, else the objects of body[key]
/// (anything else in that array is left out).
std::vector<const json*> entries(const message& m, std::string_view plural,
                                 const char* key);

/// Several TASKs in one TASKS, several RESULTs in one RESULTS
/// (PROTOCOL.md §3): each entry is the body its single command would have.
/// Entries are dumped one by one, so a batch is cut at `max_entries` or
/// `max_bytes` (an entry larger than that goes alone), far below the 64 MiB
/// a peer accepts in one message. A batch of one is the single command.
class batch {
public:
  static constexpr size_t max_entries = batch_max_entries;
  static constexpr size_t max_bytes = batch_max_bytes;

  batch(std::string single, std::string plural, std::string key);
  /// Adds an entry; true when the batch is full and must be taken now.
  bool add(const json& entry);
  /// The same with the entry already as JSON text (one object).
  bool add_text(std::string_view entry);
  bool empty() const { return count_ == 0; }
  /// The message's three frames; the batch is empty again.
  std::vector<std::string> take();

private:
  std::string single_, plural_, key_;
  std::string body_; // the entries so far, comma-separated
  size_t count_ = 0;
};

/// The member `key` of a message body, or an empty object: read in place,
/// where `body.value(key, ...)` would copy a whole task or result.
const json& member(const json& body, const char* key);

} // namespace troupe::wire

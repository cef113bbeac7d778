#include "core/stream_json.hpp"

#include "core/json_codec.hpp"

namespace troupe {

stream_json_reader::stream_json_reader(
  std::string task_id, std::string model,
  std::function<void(const api_retry_event&)> on_retry)
  : task_id_(std::move(task_id)),
    model_(std::move(model)),
    on_retry_(std::move(on_retry)) {
}

void stream_json_reader::line(std::string_view l) {
  auto j = parse_json_or_discard(l);
  if (j.is_discarded() || !j.is_object() || !j.contains("type")) {
    if (l.find_first_not_of(" \t\r") != std::string_view::npos)
      other_line_.assign(l);
    return;
  }
  ++events_;
  auto type = string_member(j, "type");
  if (type == "result") {
    result_line_.assign(l);
    return;
  }
  if (type == "assistant" || type == "user") {
    auto m = j.find("message");
    if (m == j.end() || !m->is_object())
      return;
    // One answer comes as several events (a text block, a tool_use block),
    // all with its id.
    if (auto id = m->find("id"); type == "assistant" && id != m->end()
                                 && id->is_string())
      answers_.insert(id->get<std::string>());
    take_tool_blocks(*m, type == "assistant");
    return;
  }
  if (type != "system" || string_member(j, "subtype") != "api_retry")
    return;
  api_retry_event ev;
  ev.task_id = task_id_;
  ev.model = model_;
  auto num = [&](const char* k) { return int_member(j, k); };
  ev.status = static_cast<int>(num("error_status")); // null: no connection
  ev.delay_ms = num("retry_delay_ms");
  ev.attempt = static_cast<int>(num("attempt"));
  retries_.push_back(ev);
  if (on_retry_)
    on_retry_(ev);
}

void stream_json_reader::take_tool_blocks(const json& message,
                                          bool from_assistant) {
  auto c = message.find("content");
  if (c == message.end() || !c->is_array())
    return;
  for (auto& b : *c) {
    if (!b.is_object())
      continue;
    auto type = string_member(b, "type");
    if (from_assistant && type == "tool_use") {
      auto name = string_member(b, "name");
      if (name != "Write" && name != "Edit" && name != "MultiEdit"
          && name != "NotebookEdit")
        continue;
      auto in = b.find("input");
      if (in == b.end() || !in->is_object())
        continue;
      auto path = string_member(*in, "file_path", string_member(*in, "notebook_path"));
      if (!path.empty())
        pending_writes_[string_member(b, "id")] = path;
    } else if (!from_assistant && type == "tool_result") {
      auto i = pending_writes_.find(string_member(b, "tool_use_id"));
      if (i == pending_writes_.end())
        continue;
      if (!bool_member(b, "is_error", false))
        written_.push_back(i->second);
      pending_writes_.erase(i);
    }
  }
}

const std::string& stream_json_reader::final_output() const {
  return result_line_.empty() ? other_line_ : result_line_;
}

} // namespace troupe

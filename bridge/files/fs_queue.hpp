#pragma once

// The task and result folders as a crash-safe queue (the layout below is the
// file drop's contract, README "The file drop"):
//
//   tasks/<worker>/<task_id>.json            dropped by anyone
//   tasks/<worker>/.claimed/<task_id>.json   ours while it runs (atomic rename)
//   tasks/<worker>/.running/<task_id>        marker while an executor runs it
//   tasks/<worker>/.awaiting/<task_id>.json  it waits for approval (and its estimate)
//   tasks/<worker>/.rejected/<file>          bad input, moved aside
//   results/<worker>/<task_id>.json          the one result (tmp + fsync + rename)
//   .troupe.lock                             its one holder (root_lock.hpp)
//
// Order of a task's life: claim (rename), run, write the result, drop the
// claim. A crash at any point leaves either the task file, the claim, or the
// result (or result and claim: the claim is then dropped at recovery), so no
// task is lost and no task gets a second result.

#include <optional>
#include <string>
#include <vector>

#include "core/json_codec.hpp"

namespace troupe {

/// In tasks/<worker>/: the worker is parked, and why. Removing it (caf-node
/// unpark) tells a running serve to take the worker's tasks again.
inline constexpr const char* parked_marker = ".parked";

/// tasks/<worker>/<task_id>.cancel (caf-node cancel, CANCEL): asks a
/// running serve to cancel that task, waiting or running; it goes once
/// taken.
inline constexpr const char* cancel_suffix = ".cancel";

/// tasks/<worker>/<task_id>.approve and .reject (its text: why): a person
/// answers a task that awaits approval (caf-node approve / reject).
inline constexpr const char* approve_suffix = ".approve";
inline constexpr const char* reject_suffix = ".reject";

class fs_queue {
public:
  fs_queue(std::string root, std::vector<std::string> workers,
           size_t max_task_bytes);

  /// Creates every folder; removes temp files a crash left in results/.
  /// Returns an empty string or what went wrong.
  std::string prepare();

  /// True for names a file drop may hold tasks in: *.json, not a dotfile, not
  /// an editor or temp name (*.tmp, *.swp, *~).
  static bool is_candidate(const std::string& name);

  /// Candidate names in tasks/<worker>/ or in its .claimed/ folder.
  std::vector<std::string> pending(const std::string& worker) const;
  std::vector<std::string> claimed(const std::string& worker) const;

  enum class read_state { ok, not_ready, bad, vanished };

  struct read_outcome {
    read_state state = read_state::vanished;
    task t;
    std::string reason;     // for bad: why
    int64_t age_ms = 0;     // since the last modification
  };

  /// Reads and checks tasks/<worker>/<name> (or the claim of it). A file
  /// that is empty, or does not parse, and was modified within `quiet_ms`
  /// is not_ready: it may still be written, even after a close (a shell's
  /// `>` then `>>` closes it half written).
  read_outcome read(const std::string& worker, const std::string& name,
                    bool from_claimed, int64_t quiet_ms) const;

  /// Moves the task into .claimed/; false if it vanished first.
  bool claim(const std::string& worker, const std::string& name);

  /// Puts a claimed task back into tasks/ (shutdown before it finished).
  bool hand_back(const std::string& worker, const std::string& name);

  /// Writes the result atomically, then drops the claim of `name` (if any).
  /// Returns an empty string or the reason of a failed write.
  std::string complete(const std::string& name, const result& r);

  /// complete() for many tasks, their results written together (all temp
  /// files first, then an fsync and a rename each);
  /// one error (or "") per item, in order.
  std::vector<std::string>
  complete_all(const std::vector<std::pair<std::string, result>>& items);

  /// Moves a bad file to .rejected/ and writes a `rejected` result for its
  /// stem, unless a result for that stem exists already.
  void reject(const std::string& worker, const std::string& name,
              const std::string& reason, bool from_claimed = false);

  /// Removes a dropped file that is a no-op (its result exists).
  void discard(const std::string& worker, const std::string& name);

  /// The result of `task_id` in `worker`'s folder, or in any worker's
  /// folder when `worker` is empty.
  std::optional<result> find_result(const std::string& task_id,
                                    const std::string& worker = {}) const;

  /// Records that `worker` is parked and why (tasks/<worker>/.parked);
  /// status shows it; prepare() clears it (a new start is a new attempt).
  void park(const std::string& worker, const std::string& reason);

  /// The reason `worker` is parked, or "".
  std::string parked(const std::string& worker) const;
  /// The worker runs again: its reason goes.
  void unpark(const std::string& worker);

  /// Asks the serve of this root to cancel `task_id` (its marker, written
  /// atomically). Returns an empty string or what went wrong.
  std::string ask_cancel(const std::string& worker, const std::string& task_id) const;
  /// The task id a marker file name asks to cancel, or "" if `name` is none.
  static std::string cancel_marker_id(const std::string& name);
  /// The task id of a marker `name` = <task_id><suffix>, or "".
  static std::string marker_id(const std::string& name, const char* suffix);
  /// A marker's text (trailing newlines trimmed; "" if unreadable), and
  /// the marker is removed: it is taken once.
  static std::string take_marker(const std::string& path);
  /// Answers a task awaiting approval: writes its .approve, or its .reject
  /// holding `why`. Returns an empty string or what went wrong.
  std::string ask_approval(const std::string& worker, const std::string& task_id,
                           bool yes, const std::string& why) const;
  /// The task awaits approval: {"task_id", "worker", "since", "estimate"}
  /// in .awaiting/, for status; gone once it is answered or ends.
  void mark_awaiting(const std::string& worker, const std::string& task_id,
                     const std::string& estimate);
  void clear_awaiting(const std::string& worker, const std::string& task_id);
  /// The tasks awaiting approval, as mark_awaiting wrote them.
  std::vector<json> awaiting(const std::string& worker) const;
  /// Whether `task_id` is claimed here (it runs, or is about to).
  bool is_claimed(const std::string& worker, const std::string& task_id) const;

  /// Marks a task as running (status reads these markers).
  void mark_running(const std::string& worker, const std::string& task_id);

  const std::string& root() const { return root_; }
  std::string tasks_dir(const std::string& w) const;
  /// A file `name` waits in tasks/<worker>/ or is claimed there.
  bool has_task_file(const std::string& worker, const std::string& name) const;
  std::string results_dir(const std::string& w) const;

private:
  std::string root_;
  std::vector<std::string> workers_;
  size_t max_bytes_;
};

} // namespace troupe

#pragma once

// Which CPUs troupe's own threads run on (`caf-node … --cpus LIST`). A node
// whose threads share a core hands work from one to the next without waking
// another core, which on a VM costs tens of µs per hand-off: the bridge's
// round trip is about 140 µs with the orchestrator and the worker nodes each
// on their own core, about 240 µs spread over two. The agents a node starts
// are not confined: they get the CPUs the node had before.

#include <optional>
#include <string>
#include <string_view>

#include <sched.h>

namespace troupe {

/// "0", "2-3", "0,2,4-7": CPU numbers and ranges separated by commas.
/// nullopt, with the reason in `error`, for anything else.
std::optional<cpu_set_t> parse_cpu_list(std::string_view text, std::string& error);

/// Confines the calling thread, and every thread it starts from now on, to
/// `cpus` (call it before any other thread exists); children started
/// through spawn_in_own_group keep the CPUs this thread had. False, with
/// the reason in `error`, if the kernel refuses (no CPU of the list is
/// available here).
bool pin_to_cpus(const cpu_set_t& cpus, std::string& error);

/// The kernel's own spelling of a set, as in /proc/<pid>/status
/// (Cpus_allowed_list): "0-1,4".
std::string cpu_list_text(const cpu_set_t& cpus);

} // namespace troupe

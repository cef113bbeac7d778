// The orchestrator's book of remote worker nodes, with injected time.

#include "bridge/zmq/dispatcher.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono_literals;

namespace {

task mk(const std::string& id, const std::string& worker = "marie") {
  task t;
  t.task_id = id;
  t.worker = worker;
  t.description = "do " + id;
  return t;
}

std::vector<std::string> ids(const std::vector<dispatcher::send_task>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.node + ":" + x.t->task_id);
  return out;
}

const dispatcher::time_point t0{};

} // namespace

TEST(dispatcher, tasks_wait_for_a_node_then_fill_its_slots) {
  dispatcher d;
  EXPECT_TRUE(d.submit(1, mk("a"), "marie").empty());
  EXPECT_TRUE(d.submit(2, mk("b"), "marie").empty());
  EXPECT_TRUE(d.submit(3, mk("c"), "marie").empty());
  EXPECT_EQ(d.queued("marie"), 3u);
  // Two slots: the two oldest go, the third waits.
  EXPECT_EQ(ids(d.ready("n1", "marie@1", "marie", 2, {}, t0)),
            (std::vector<std::string>{"n1:a", "n1:b"}));
  EXPECT_EQ(d.queued("marie"), 1u);
  std::vector<dispatcher::send_task> next;
  EXPECT_TRUE(d.finished("n1", 1, next));
  EXPECT_EQ(ids(next), std::vector<std::string>{"n1:c"});
  // A second result for the same ticket is a duplicate.
  next.clear();
  EXPECT_FALSE(d.finished("n1", 1, next));
  EXPECT_TRUE(next.empty());
}

TEST(dispatcher, work_spreads_over_the_nodes_of_a_worker_only) {
  dispatcher d;
  d.ready("m1", "m1", "marie", 1, {}, t0);
  d.ready("m2", "m2", "marie", 1, {}, t0);
  d.ready("a1", "a1", "anga", 4, {}, t0);
  auto a = d.submit(1, mk("x"), "marie");
  auto b = d.submit(2, mk("y"), "marie");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NE(a[0].node, b[0].node);
  EXPECT_TRUE(d.submit(3, mk("z"), "marie").empty()); // both busy; anga's node idles
  EXPECT_EQ(ids(d.submit(4, mk("r", "anga"), "anga")), std::vector<std::string>{"a1:r"});
}

TEST(dispatcher, a_dead_node_gives_its_tasks_back_to_the_front_of_the_queue) {
  dispatcher d;
  d.ready("n1", "n1", "marie", 2, {}, t0);
  d.submit(1, mk("a"), "marie");
  d.submit(2, mk("b"), "marie");
  d.submit(3, mk("c"), "marie"); // waits
  d.seen("n1", t0 + 100ms);
  EXPECT_TRUE(d.silent_since(t0 + 350ms, 300ms).empty());
  EXPECT_EQ(d.silent_since(t0 + 450ms, 300ms), std::vector<std::string>{"n1"});
  std::vector<dispatcher::send_task> next;
  auto gone = d.drop("n1", next);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->running.size(), 2u);
  EXPECT_TRUE(next.empty()); // no other node: kept until one comes
  EXPECT_EQ(d.queued("marie"), 3u);
  // The next node gets them in their first order: a, b before c.
  EXPECT_EQ(ids(d.ready("n2", "n2", "marie", 3, {}, t0 + 1s)),
            (std::vector<std::string>{"n2:a", "n2:b", "n2:c"}));
}

TEST(dispatcher, a_node_that_comes_back_keeps_what_it_still_runs) {
  dispatcher d;
  d.ready("old", "n", "marie", 1, {}, t0);
  d.submit(7, mk("a"), "marie");
  std::vector<dispatcher::send_task> next;
  d.drop("old", next); // thought dead: a is queued again
  EXPECT_EQ(d.queued("marie"), 1u);
  // It reconnects and says it still runs ticket 7: not sent twice.
  EXPECT_TRUE(d.ready("new", "n", "marie", 1, {7, 99}, t0 + 1s).empty());
  EXPECT_EQ(d.queued("marie"), 0u);
  EXPECT_TRUE(d.finished("new", 7, next));
  EXPECT_EQ(d.outstanding(), 0u);
}

TEST(dispatcher, a_result_from_a_node_declared_dead_still_counts_once) {
  dispatcher d;
  d.ready("n1", "n1", "marie", 1, {}, t0);
  d.submit(1, mk("a"), "marie");
  std::vector<dispatcher::send_task> next;
  d.drop("n1", next); // requeued, no node
  EXPECT_NE(d.task_of(1), nullptr);
  EXPECT_TRUE(d.finished("n1", 1, next)); // its late result arrives after all
  EXPECT_EQ(d.queued("marie"), 0u);
  EXPECT_EQ(d.task_of(1), nullptr);
  // A node arriving now gets nothing to run twice.
  EXPECT_TRUE(d.ready("n2", "n2", "marie", 1, {}, t0).empty());
}

TEST(dispatcher, once_paused_nothing_goes_out_and_the_queue_is_taken_back) {
  dispatcher d;
  d.ready("n1", "marie@1", "marie", 1, {}, t0);
  d.ready("n2", "marie@2", "marie", 1, {}, t0);
  EXPECT_EQ(d.submit(1, mk("a"), "marie").size(), 1u); // to n1
  EXPECT_EQ(d.submit(2, mk("b"), "marie").size(), 1u); // to n2
  d.submit(3, mk("c"), "marie");
  d.submit(4, mk("d"), "marie");
  d.pause();
  // A freed slot takes nothing; a node that leaves gives its task back to
  // the queue, where no other node picks it up.
  std::vector<dispatcher::send_task> next;
  EXPECT_TRUE(d.finished("n1", 1, next));
  EXPECT_TRUE(next.empty());
  EXPECT_TRUE(d.drop("n2", next).has_value());
  EXPECT_TRUE(next.empty());
  EXPECT_TRUE(d.submit(5, mk("e"), "marie").empty());
  auto back = d.take_queued();
  std::vector<std::string> got;
  for (auto& [ticket, t] : back)
    got.push_back(std::to_string(ticket) + ":" + t.task_id);
  EXPECT_EQ(got, (std::vector<std::string>{"2:b", "3:c", "4:d", "5:e"}));
  EXPECT_EQ(d.queued("marie"), 0u);
  EXPECT_EQ(d.outstanding(), 0u);
  EXPECT_EQ(d.task_of(3), nullptr);
}

TEST(dispatcher, a_draining_node_keeps_what_it_runs_and_gets_nothing_new) {
  dispatcher d;
  d.ready("n1", "marie@1", "marie", 2, {}, t0);
  EXPECT_EQ(ids(d.submit(1, mk("a"), "marie")), (std::vector<std::string>{"n1:a"}));
  d.drain("n1");
  EXPECT_TRUE(d.submit(2, mk("b"), "marie").empty()); // a free slot, but draining
  std::vector<dispatcher::send_task> next;
  EXPECT_TRUE(d.finished("n1", 1, next)); // its own task still ends normally
  EXPECT_TRUE(next.empty());
  EXPECT_EQ(d.queued("marie"), 1u);
  // Another node takes what waits.
  EXPECT_EQ(ids(d.ready("n2", "marie@2", "marie", 1, {}, t0)),
            (std::vector<std::string>{"n2:b"}));
}

TEST(dispatcher, a_task_handed_back_unrun_goes_to_another_node_first) {
  dispatcher d;
  d.ready("n1", "marie@1", "marie", 2, {}, t0);
  d.ready("n2", "marie@2", "marie", 1, {}, t0);
  std::vector<std::string> sent;
  for (auto [ticket, id] : {std::pair{1, "a"}, {2, "b"}, {3, "c"}, {4, "d"}}) {
    auto more = ids(d.submit(ticket, mk(id), "marie"));
    sent.insert(sent.end(), more.begin(), more.end());
  }
  ASSERT_EQ(sent, (std::vector<std::string>{"n1:a", "n1:b", "n2:c"})); // d waits
  std::vector<dispatcher::send_task> next;
  // n1 is stopping: it answers b unrun. Another node's claim changes nothing.
  EXPECT_FALSE(d.handed_back("n2", 2, next));
  EXPECT_TRUE(d.handed_back("n1", 2, next));
  EXPECT_TRUE(next.empty()); // n2 is full, n1 now drains
  EXPECT_EQ(d.queued("marie"), 2u);
  EXPECT_EQ(d.outstanding(), 4u); // nothing lost
  // n2 frees its slot: b, handed back, goes before d, which waited.
  EXPECT_TRUE(d.finished("n2", 3, next));
  EXPECT_EQ(ids(next), (std::vector<std::string>{"n2:b"}));
  // n1 still finishes what it ran, and gets nothing new.
  next.clear();
  EXPECT_TRUE(d.finished("n1", 1, next));
  EXPECT_TRUE(next.empty());
  EXPECT_EQ(d.queued("marie"), 1u);
}

TEST(dispatcher, a_parked_node_gets_nothing_new_and_its_task_goes_to_another_node) {
  dispatcher d;
  d.ready("n1", "marie@1", "marie", 1, {}, t0);
  d.ready("n2", "marie@2", "marie", 1, {}, t0);
  d.ready("n3", "anga@1", "anga", 1, {}, t0);
  EXPECT_EQ(ids(d.submit(1, mk("a"), "marie")), (std::vector<std::string>{"n1:a"}));
  EXPECT_EQ(ids(d.submit(2, mk("b"), "marie")), (std::vector<std::string>{"n2:b"}));
  EXPECT_TRUE(d.submit(3, mk("c"), "marie").empty()); // both busy
  std::vector<dispatcher::send_task> next;
  // n1's credentials fail on a: n2 takes marie's work; a goes first in line.
  EXPECT_TRUE(d.park("n1", 1, "auth", next));
  EXPECT_TRUE(next.empty()); // n2 is still busy
  EXPECT_EQ(d.nodes().at("n1").parked, "auth");
  EXPECT_EQ(d.outstanding(), 3u); // nothing lost, nothing finished
  EXPECT_TRUE(d.finished("n2", 2, next));
  EXPECT_EQ(ids(next), (std::vector<std::string>{"n2:a"}));
  // n2 fails too: no other marie node takes tasks (anga's does not count),
  // so its answer stands and c stays queued for a node that comes.
  next.clear();
  EXPECT_FALSE(d.park("n2", 1, "spend_limit", next));
  EXPECT_TRUE(next.empty());
  EXPECT_EQ(d.nodes().at("n2").parked, "spend_limit");
  EXPECT_TRUE(d.finished("n2", 1, next));
  EXPECT_TRUE(next.empty());
  EXPECT_EQ(d.queued("marie"), 1u);
  // The first reason stays; a new connection starts afresh and takes c.
  EXPECT_FALSE(d.park("n1", 9, "parked", next));
  EXPECT_EQ(d.nodes().at("n1").parked, "auth");
  EXPECT_EQ(ids(d.ready("n4", "marie@3", "marie", 1, {}, t0)),
            (std::vector<std::string>{"n4:c"}));
}

TEST(dispatcher, a_node_whose_ready_says_parked_gets_nothing) {
  dispatcher d;
  EXPECT_TRUE(d.submit(1, mk("a"), "marie").empty());
  EXPECT_TRUE(d.ready("n1", "marie@1", "marie", 2, {}, t0, "auth").empty());
  EXPECT_EQ(d.nodes().at("n1").parked, "auth");
  EXPECT_EQ(d.queued("marie"), 1u);
  EXPECT_EQ(ids(d.ready("n2", "marie@2", "marie", 1, {}, t0)),
            (std::vector<std::string>{"n2:a"}));
}

TEST(dispatcher, after_our_restart_what_a_node_still_runs_holds_its_slots) {
  // We restarted: tickets 501 and 502 are the old process's. The node's
  // READY says it still runs them; the recovered tasks wait for them.
  dispatcher d;
  d.submit(1, mk("a"), "marie");
  d.submit(2, mk("b"), "marie");
  d.submit(3, mk("c"), "marie");
  EXPECT_EQ(ids(d.ready("n", "n", "marie", 3, {501, 502}, t0)),
            (std::vector<std::string>{"n:a"}));
  EXPECT_EQ(d.nodes().at("n").foreign.size(), 2u);
  // The old run of c answers: the recovered c ends with it, and the slot
  // it held takes b (queued first).
  std::vector<dispatcher::send_task> next;
  auto end = d.finished_foreign("n", 502, "c", next);
  EXPECT_TRUE(end.was_foreign);
  ASSERT_TRUE(end.job.has_value());
  EXPECT_EQ(*end.job, 3u);
  EXPECT_EQ(d.task_of(3), nullptr);
  EXPECT_EQ(ids(next), (std::vector<std::string>{"n:b"}));
  // The old run of something no longer queued frees its slot only.
  next.clear();
  end = d.finished_foreign("n", 501, "gone", next);
  EXPECT_TRUE(end.was_foreign);
  EXPECT_FALSE(end.job.has_value());
  EXPECT_TRUE(next.empty());
  EXPECT_TRUE(d.nodes().at("n").foreign.empty());
  // Not foreign (twice, or never): nothing changes.
  EXPECT_FALSE(d.finished_foreign("n", 501, "gone", next).was_foreign);
  EXPECT_FALSE(d.finished_foreign("x", 7, "a", next).was_foreign);
}

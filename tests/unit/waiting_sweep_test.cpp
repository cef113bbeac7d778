// What waits for ever in the shared queue: a cycle, and a dependency that
// nobody provides. The sweep is pure; the last test reads the waiting
// tasks from a real redis-server and ends them through the queue.
#include "bridge/redis/waiting_sweep.hpp"

#include <gtest/gtest.h>

#include "core/outcome.hpp"
#include "redis_server.hpp"

using namespace troupe;
using troupe::testing::redis_server;

namespace {

waiting_entry waits(const std::string& id, std::vector<std::string> missing,
                    std::vector<std::string> unknown = {}, int64_t since_ms = 0) {
  waiting_entry w;
  w.t.task_id = id;
  w.t.worker = "marie";
  w.t.description = "do " + id;
  w.t.dependencies = missing;
  w.missing = std::move(missing);
  w.unknown = std::move(unknown);
  w.since_ms = since_ms;
  return w;
}

} // namespace

TEST(waiting_sweep, a_cycle_fails_the_task_that_closes_it_only) {
  auto doomed = sweep_waiting({waits("a", {"b"}), waits("b", {"c"}), waits("c", {"a"}),
                               waits("d", {"a"})},
                              0, 60'000);
  ASSERT_EQ(doomed.size(), 1u);
  EXPECT_EQ(doomed[0].entry, 2u); // c closes a -> b -> c -> a
  EXPECT_EQ(doomed[0].dep, "a");
  EXPECT_NE(doomed[0].why.find("dependency cycle: c -> a -> b -> c"), std::string::npos)
    << doomed[0].why;
}

TEST(waiting_sweep, a_dependency_nobody_has_fails_after_the_patience) {
  std::vector<waiting_entry> w{waits("a", {"x"}, {"x"}, 1'000),
                               waits("b", {"y"}, {}, 1'000)}; // y is queued somewhere
  EXPECT_TRUE(sweep_waiting(w, 61'000, 60'000).empty());
  auto doomed = sweep_waiting(w, 61'001, 60'000);
  ASSERT_EQ(doomed.size(), 1u);
  EXPECT_EQ(doomed[0].entry, 0u);
  EXPECT_EQ(doomed[0].dep, "x");
  EXPECT_NE(doomed[0].why.find("no task x queued, running or done after 60 s"),
            std::string::npos)
    << doomed[0].why;
}

TEST(waiting_sweep, a_cycle_in_redis_ends_its_other_members_doomed) {
  redis_server redis;
  std::string err;
  redis_client c{troupe::testing::url_of(redis), std::chrono::milliseconds(2000)};
  redis_queue_settings s;
  s.consumer = "a";
  redis_queue q{c, s};
  ASSERT_EQ(q.prepare({"marie"}), "");
  auto t = [](const std::string& id, const std::string& dep) {
    task x;
    x.task_id = id;
    x.worker = "marie";
    x.description = "do " + id;
    x.dependencies = {dep};
    return x;
  };
  ASSERT_EQ(q.enqueue(t("a", "b"), err), redis_queue::enqueued::waiting) << err;
  ASSERT_EQ(q.enqueue(t("b", "a"), err), redis_queue::enqueued::waiting) << err;
  ASSERT_EQ(q.enqueue(t("c", "nobody"), err), redis_queue::enqueued::waiting) << err;
  auto waiting = q.waiting_tasks(100, err);
  ASSERT_EQ(waiting.size(), 3u) << err;
  for (auto& w : waiting)
    EXPECT_EQ(w.unknown.empty(), w.t.task_id != "c") << w.t.task_id;
  auto doomed = sweep_waiting(waiting, 0, 60'000);
  ASSERT_EQ(doomed.size(), 1u);
  claimed_task never_claimed;
  never_claimed.t = waiting[doomed[0].entry].t;
  auto ended = q.complete(never_claimed,
                          dependency_failed_result(never_claimed.t, doomed[0].dep, doomed[0].why),
                          err);
  ASSERT_TRUE(ended && *ended) << err;
  // The other member of the cycle is released to its stream, doomed.
  auto got = q.claim("marie", 10, err);
  ASSERT_EQ(got.size(), 1u) << err;
  EXPECT_EQ(got[0].doomed_by, never_claimed.t.task_id);
  EXPECT_EQ(q.waiting(err), 1); // c still waits: its patience is not over
}

// The rate limiter's buckets shared in Redis: two limiters (two
// orchestrators) against one real redis-server stay inside one account's
// limits together.
#include "bridge/redis/redis_meters.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "core/limiter_core.hpp"
#include "redis_server.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using troupe::testing::redis_server;
using troupe::testing::url_of;

namespace {

std::shared_ptr<redis_meters> meters_on(const redis_server& s, const std::string& name,
                                        std::chrono::milliseconds stale = 120s) {
  redis_meters_settings ms;
  ms.url = url_of(s);
  ms.consumer = name;
  ms.stale = stale;
  ms.timeout = 500ms;
  return std::make_shared<redis_meters>(ms);
}

rate_limits itpm(double n) {
  rate_limits l;
  l.input_tokens_per_min = n;
  return l;
}

permit_ask input_ask(uint64_t id, const std::string& worker, double tokens) {
  permit_ask a;
  a.id = id;
  a.worker = worker;
  a.model = "claude-sonnet-4";
  a.input_tokens = tokens;
  a.exact = true;
  return a;
}

meter_ref sonnet(double n) {
  return {"global:sonnet", itpm(n)};
}

meter_ref no_worker_limit() {
  return {"worker:marie", rate_limits{}};
}

} // namespace

TEST(redis_meters, two_limiters_share_one_global_bucket) {
  redis_server redis;
  auto now = std::chrono::steady_clock::now();
  limiter_core a{itpm(1000), {}, now, meters_on(redis, "a")};
  limiter_core b{itpm(1000), {}, now, meters_on(redis, "b")};
  a.enqueue(input_ask(1, "marie", 600));
  auto got_a = a.grant(now);
  ASSERT_EQ(got_a.size(), 1u);
  // What a took is gone for b as well: 400 are left, not 1,000.
  b.enqueue(input_ask(1, "anga", 600));
  EXPECT_TRUE(b.grant(now).empty());
  auto wait = b.next_try(now);
  ASSERT_TRUE(wait);
  // 200 missing at 1,000 a minute: about 12 s (a little less: Redis's
  // clock ran on between the two reservations).
  EXPECT_GT(*wait, 11s);
  EXPECT_LE(*wait, 12s);
  // a's run used half its estimate: the other half is b's.
  a.settle(got_a[0], 1, 300, 0, now);
  EXPECT_EQ(b.grant(now).size(), 1u);
}

TEST(redis_meters, a_worker_limit_blocks_that_worker_only) {
  redis_server redis;
  auto m = meters_on(redis, "a");
  auto now = std::chrono::steady_clock::now();
  meter_ref marie{"worker:marie", itpm(100)};
  EXPECT_EQ(m->reserve(sonnet(1000), marie, {0, 80, 0}, now), reserve_outcome::granted);
  EXPECT_EQ(m->reserve(sonnet(1000), marie, {0, 80, 0}, now),
            reserve_outcome::worker_blocked);
  EXPECT_EQ(m->reserve(sonnet(1000), no_worker_limit(), {0, 80, 0}, now),
            reserve_outcome::granted);
  // Refused reservations take nothing: 1,000 - 80 - 80 remain globally.
  EXPECT_EQ(m->reserve(sonnet(1000), no_worker_limit(), {0, 841, 0}, now),
            reserve_outcome::global_blocked);
  EXPECT_EQ(m->reserve(sonnet(1000), no_worker_limit(), {0, 839, 0}, now),
            reserve_outcome::granted);
}

TEST(redis_meters, a_429_empties_the_bucket_for_everyone) {
  redis_server redis;
  auto now = std::chrono::steady_clock::now();
  limiter_core a{itpm(1000), {}, now, meters_on(redis, "a")};
  limiter_core b{itpm(1000), {}, now, meters_on(redis, "b")};
  a.cool_down("claude-sonnet-4", now, 1s);
  b.enqueue(input_ask(1, "anga", 100));
  EXPECT_TRUE(b.grant(now).empty());
}

TEST(redis_meters, the_api_headers_cap_the_shared_bucket) {
  redis_server redis;
  auto now = std::chrono::steady_clock::now();
  auto a = meters_on(redis, "a");
  auto b = meters_on(redis, "b");
  a->cap(sonnet(1000), {-1, 50, -1}, now);
  EXPECT_EQ(b->reserve(sonnet(1000), no_worker_limit(), {0, 100, 0}, now),
            reserve_outcome::global_blocked);
  EXPECT_EQ(b->reserve(sonnet(1000), no_worker_limit(), {0, 40, 0}, now),
            reserve_outcome::granted);
}

TEST(redis_meters, reservations_of_a_vanished_orchestrator_stop_counting) {
  redis_server redis;
  auto now = std::chrono::steady_clock::now();
  // 6,000 a minute: 100 a second. a reserves half and is never heard of
  // again (killed while its requests were out).
  auto a = meters_on(redis, "a");
  ASSERT_EQ(a->reserve(sonnet(6000), no_worker_limit(), {0, 3000, 0}, now),
            reserve_outcome::granted);
  a.reset();
  auto patient = meters_on(redis, "patient", 10min);
  auto brisk = meters_on(redis, "brisk", 100ms);
  EXPECT_EQ(patient->reserve(sonnet(6000), no_worker_limit(), {0, 3001, 0}, now),
            reserve_outcome::global_blocked);
  // Refill time passes (and a's staleness for `brisk`).
  std::this_thread::sleep_for(300ms);
  // While a's 3,000 count as out, the bucket refills to 3,000 at most.
  EXPECT_EQ(patient->reserve(sonnet(6000), no_worker_limit(), {0, 3001, 0}, now),
            reserve_outcome::global_blocked);
  // Seen as gone: its reservation no longer holds the room.
  EXPECT_EQ(brisk->reserve(sonnet(6000), no_worker_limit(), {0, 3001, 0}, now),
            reserve_outcome::granted);
}

TEST(redis_meters, nothing_is_granted_while_redis_is_down) {
  redis_server redis({"--save", "", "--appendonly", "no"});
  auto now = std::chrono::steady_clock::now();
  std::vector<std::string> warnings;
  redis_meters_settings ms;
  ms.url = url_of(redis);
  ms.consumer = "a";
  ms.timeout = 300ms;
  ms.warn = [&](const std::string& w) { warnings.push_back(w); };
  redis_meters m{ms};
  ASSERT_EQ(m.reserve(sonnet(1000), no_worker_limit(), {0, 10, 0}, now),
            reserve_outcome::granted);
  redis.kill(SIGKILL);
  EXPECT_EQ(m.reserve(sonnet(1000), no_worker_limit(), {0, 10, 0}, now),
            reserve_outcome::global_blocked);
  EXPECT_EQ(m.time_until(sonnet(1000), no_worker_limit(), {0, 10, 0}, now), 1s);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("nothing is granted"), std::string::npos) << warnings[0];
  redis.restart();
  // Tried again a second after the last attempt.
  EXPECT_EQ(m.reserve(sonnet(1000), no_worker_limit(), {0, 10, 0}, now + 1s),
            reserve_outcome::granted);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[1].find("reached again"), std::string::npos) << warnings[1];
}

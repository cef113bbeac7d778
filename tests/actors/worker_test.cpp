#define CAF_SUITE worker

#include "actors/worker.hpp"

#include "actors/rate_limiter.hpp"
#include "caf/all.hpp"
#include "core/clock.hpp"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/day_spend.hpp"
#include "core/json_codec.hpp"
#include "fixture.hpp"

using namespace troupe;
using namespace troupe::testing;
using namespace std::chrono_literals;

namespace {

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<scripted_executor> exec = std::make_shared<scripted_executor>();
  rate_limiter_actor limiter;
  worker_actor w;
  day_cap_settings cap; // none unless a test sets it
  wall_clock wall = unix_now_ms; // the worker's; a test may make it follow the scheduler

  void start(int slots, rate_limits limits = {}, bool blocking = false,
             bool gated = false) {
    exec->is_blocking = blocking;
    limiter = sys.spawn(rate_limiter, limits, std::map<std::string, rate_limits>{},
                             caf::timespan{std::chrono::seconds(10)}, cap,
                             std::shared_ptr<meter_store>{});
    worker_settings ws;
    ws.name = "marie";
    ws.slots = slots;
    ws.detached_runners = false; // the test scheduler runs them
    ws.gated = gated;
    ws.needs_permits = !gated;
    ws.now_ms = wall;
    w = sys.spawn(worker, ws, exec, limiter, recorder_actor{});
    run();
  }

  /// A wall clock at `from_ms` now that moves with the test scheduler's.
  wall_clock wall_from(int64_t from_ms) {
    auto t0 = sched.clock().now();
    return [this, from_ms, t0] {
      return from_ms
             + std::chrono::duration_cast<std::chrono::milliseconds>(sched.clock().now() - t0)
                 .count();
    };
  }

  /// Consumes messages only: timers (the executor's latency) do not fire.
  void settle_messages() {
    while (sched.try_run_once())
      ;
  }

  std::vector<result> results() {
    std::vector<result> xs;
    bool more = true;
    while (more)
      self->receive([&](result& r, uint64_t) { xs.push_back(std::move(r)); },
                    caf::after(0s) >> [&] { more = false; });
    return xs;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(worker_tests, fixture)

CAF_TEST(never runs more tasks at once than it has slots) {
  exec->lat = 100ms;
  start(2);
  for (int i = 0; i < 5; ++i)
    self->send(w, mk_task("t" + std::to_string(i), "marie"), uint64_t{0});
  settle_messages();
  CAF_CHECK_EQUAL(exec->seen.size(), 2u);
  CAF_CHECK(results().empty());
  CAF_CHECK(sched.trigger_timeouts() > 0);
  settle_messages();
  CAF_CHECK_EQUAL(exec->seen.size(), 4u);
  CAF_CHECK_EQUAL(results().size(), 2u);
  sched.trigger_timeouts();
  settle_messages();
  CAF_CHECK_EQUAL(exec->seen.size(), 5u);
  sched.trigger_timeouts();
  settle_messages();
  CAF_CHECK_EQUAL(results().size(), 3u);
}

CAF_TEST(queued tasks run high priority first then in arrival order) {
  exec->lat = 100ms;
  start(1);
  self->send(w, mk_task("busy", "marie"), uint64_t{0});
  settle_messages();
  self->send(w, mk_task("low", "marie", {}, priority::low), uint64_t{0});
  self->send(w, mk_task("mid1", "marie"), uint64_t{0});
  self->send(w, mk_task("high", "marie", {}, priority::high), uint64_t{0});
  self->send(w, mk_task("mid2", "marie"), uint64_t{0});
  run(); // messages and timers until all are done
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{
                                   "busy", "high", "mid1", "mid2", "low"}));
  CAF_CHECK_EQUAL(results().size(), 5u);
}

CAF_TEST(waits for a permit from the rate limiter before each run) {
  // One request per minute: the second task must wait a minute of
  // (injected) time.
  start(2, rate_limits{1, 0, 0});
  self->send(w, mk_task("first", "marie"), uint64_t{0});
  self->send(w, mk_task("second", "marie"), uint64_t{0});
  settle_messages();
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"first"}));
  CAF_CHECK_EQUAL(results().size(), 1u);
  advance_time(59s);
  settle_messages();
  CAF_CHECK_EQUAL(exec->seen.size(), 1u);
  advance_time(1s);
  settle_messages();
  CAF_CHECK_EQUAL(exec->order(),
                  (std::vector<std::string>{"first", "second"}));
  CAF_CHECK_EQUAL(results().size(), 1u);
}

CAF_TEST(blocking executors run on runner actors and report back) {
  start(2, {}, true);
  self->send(w, mk_task("a", "marie"), uint64_t{0});
  self->send(w, mk_task("b", "marie"), uint64_t{0});
  self->send(w, mk_task("c", "marie"), uint64_t{0});
  run();
  auto rs = results();
  CAF_CHECK_EQUAL(rs.size(), 3u);
  for (auto& r : rs)
    CAF_CHECK(r.ok());
}

CAF_TEST(parks after a failure that needs a person and runs nothing more) {
  exec->outcomes["first"] = {"auth"};
  exec->lat = 100ms;
  start(1);
  self->send(w, mk_task("first", "marie"), uint64_t{1});
  self->send(w, mk_task("second", "marie"), uint64_t{2});
  self->send(w, mk_task("third", "marie", {}, priority::high), uint64_t{3});
  run();
  self->send(w, mk_task("later", "marie"), uint64_t{4});
  run();
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"first"}));
  auto rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 4u);
  CAF_CHECK_EQUAL(rs[0].error->kind, "auth");
  for (size_t i = 1; i < rs.size(); ++i) {
    CAF_CHECK(rs[i].state == status::cancelled);
    CAF_CHECK_EQUAL(rs[i].error->kind, "parked");
    CAF_CHECK(rs[i].error->message.find("parked after auth: scripted auth")
              != std::string::npos);
  }
}

CAF_TEST(on stop it starts nothing more and answers what waits as not started) {
  exec->lat = 100ms;
  start(1);
  self->send(w, mk_task("running", "marie"), uint64_t{1});
  settle_messages();
  self->send(w, mk_task("queued-1", "marie"), uint64_t{2});
  self->send(w, mk_task("queued-2", "marie", {}, priority::high), uint64_t{3});
  settle_messages();
  self->send(w, stop_atom_v);
  settle_messages();
  // The two queued tasks are answered at once, before the running one ends.
  auto early = results();
  CAF_REQUIRE_EQUAL(early.size(), 2u);
  for (auto& r : early) {
    CAF_CHECK(r.state == status::cancelled);
    CAF_CHECK_EQUAL(r.error->kind, "stopping");
  }
  self->send(w, mk_task("after-stop", "marie"), uint64_t{4});
  run(); // the running task's latency passes
  auto late = results();
  CAF_REQUIRE_EQUAL(late.size(), 2u);
  CAF_CHECK_EQUAL(late[0].task_id, "after-stop");
  CAF_CHECK_EQUAL(late[0].error->kind, "stopping");
  CAF_CHECK_EQUAL(late[1].task_id, "running");
  CAF_CHECK(late[1].ok());
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"running"}));
}

CAF_TEST(a task whose permit arrives after the stop does not start) {
  // One request per minute: the second waits for its permit when we stop.
  start(2, rate_limits{1, 0, 0});
  self->send(w, mk_task("first", "marie"), uint64_t{0});
  self->send(w, mk_task("second", "marie"), uint64_t{0});
  settle_messages();
  CAF_CHECK_EQUAL(results().size(), 1u);
  self->send(w, stop_atom_v);
  advance_time(60s);
  settle_messages();
  auto rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 1u);
  CAF_CHECK_EQUAL(rs[0].task_id, "second");
  CAF_CHECK_EQUAL(rs[0].error->kind, "stopping");
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"first"}));
}

CAF_TEST(a spend limit that says when it ends is waited for then run again) {
  // Access comes back at the start of the minute after next.
  auto until_s = (unix_now_ms() / 1000 / 60 + 2) * 60;
  std::time_t t = until_s;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char msg[128];
  std::strftime(msg, sizeof msg,
                "You have reached your specified API usage limits. You will regain "
                "access on %Y-%m-%d at %H:%M UTC.",
                &tm);
  exec->outcomes["first"] = {"spend_limit"};
  exec->messages["spend_limit"] = msg;
  start(1, rate_limits{0, 100000, 0});
  self->send(w, mk_task("first", "marie"), uint64_t{1});
  self->send(w, mk_task("second", "marie"), uint64_t{2});
  settle_messages();
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"first"}));
  CAF_CHECK(results().empty()); // nobody is told it failed
  advance_time(std::chrono::seconds(60));
  settle_messages();
  CAF_CHECK_EQUAL(exec->seen.size(), 1u); // not before the moment
  advance_time(std::chrono::seconds(3 * 60));
  settle_messages();
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"first", "first", "second"}));
  auto rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 2u);
  CAF_CHECK(rs[0].ok() && rs[1].ok());
}

CAF_TEST(an unpark lets a parked worker run tasks again) {
  exec->outcomes["first"] = {"auth"};
  start(1);
  self->send(w, mk_task("first", "marie"), uint64_t{1});
  run();
  self->send(w, mk_task("refused", "marie"), uint64_t{2});
  run();
  self->send(w, unpark_atom_v);
  self->send(w, mk_task("later", "marie"), uint64_t{3});
  run();
  auto rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 3u);
  CAF_CHECK_EQUAL(rs[1].error->kind, "parked");
  CAF_CHECK(rs[2].ok());
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"first", "later"}));
}

CAF_TEST(a spend limit that ends past spend_wait parks the worker) {
  exec->outcomes["first"] = {"spend_limit"};
  exec->messages["spend_limit"] = "You have reached your specified API usage limits. "
                                  "You will regain access on 2099-01-01 at 00:00 UTC.";
  start(1);
  self->send(w, mk_task("first", "marie"), uint64_t{1});
  self->send(w, mk_task("second", "marie"), uint64_t{2});
  settle_messages();
  auto rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 2u);
  CAF_CHECK_EQUAL(rs[0].error->kind, "spend_limit");
  CAF_CHECK_EQUAL(rs[1].error->kind, "parked");
  CAF_CHECK_EQUAL(exec->seen.size(), 1u);
}

CAF_TEST(a worker parked on a spend limit runs again at the moment it names) {
  // Two hours on: past spend_wait (one hour), so the worker parks.
  auto until_s = (unix_now_ms() / 1000 / 60 + 120) * 60;
  std::time_t t = until_s;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char msg[128];
  std::strftime(msg, sizeof msg,
                "You have reached your specified API usage limits. You will regain "
                "access on %Y-%m-%d at %H:%M UTC.",
                &tm);
  exec->outcomes["first"] = {"spend_limit"};
  exec->messages["spend_limit"] = msg;
  start(1);
  self->send(w, mk_task("first", "marie"), uint64_t{1});
  settle_messages();
  self->send(w, mk_task("while-parked", "marie"), uint64_t{2});
  settle_messages();
  auto rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 2u);
  CAF_CHECK_EQUAL(rs[0].error->kind, "spend_limit");
  CAF_CHECK_EQUAL(rs[0].extra.value(resumes_at_key, int64_t{0}), until_s * 1000);
  CAF_CHECK_EQUAL(rs[1].error->kind, "parked");
  CAF_CHECK_EQUAL(rs[1].extra.value(resumes_at_key, int64_t{0}), until_s * 1000);
  CAF_CHECK(rs[1].error->message.find("runs again from") != std::string::npos);
  // A person's unpark and a new park since would have their own end; this
  // park's own timer ends it.
  advance_time(std::chrono::milliseconds(until_s * 1000 - unix_now_ms()) + 1s);
  settle_messages();
  self->send(w, mk_task("after", "marie"), uint64_t{3});
  settle_messages();
  rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 1u);
  CAF_CHECK(rs[0].ok());
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"first", "after"}));
}

CAF_TEST(the spend cap of a day parks claude workers and holds across restarts) {
  auto root = std::filesystem::temp_directory_path()
              / ("troupe-daycap-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  cap.root = root.string();
  cap.usd_per_day = 0.05;
  exec->cost = 0.03;
  start(1);
  for (auto id : {"t1", "t2", "t3"})
    self->send(w, mk_task(id, "marie"), uint64_t{0});
  settle_messages();
  auto rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 3u);
  // t1 leaves 0.02 of the cap: t2 starts (a run's cost is known only
  // after it), and the day then stands at 0.06.
  CAF_CHECK(rs[0].ok() && rs[1].ok());
  CAF_CHECK(rs[2].state == status::cancelled);
  CAF_CHECK_EQUAL(rs[2].error->kind, "spend_cap");
  auto tomorrow = next_utc_day_ms(unix_now_ms());
  CAF_CHECK_EQUAL(rs[2].extra.value(resumes_at_key, int64_t{0}), tomorrow);
  CAF_CHECK_EQUAL(exec->seen.size(), 2u);
  auto day = read_day_spend(root.string(), utc_day(unix_now_ms()));
  CAF_CHECK_EQUAL(day.runs, 2);
  CAF_CHECK(std::abs(day.usd - 0.06) < 1e-9);
  // A restart: a new limiter and worker on the same root refuse at once.
  anon_send_exit(w, caf::exit_reason::user_shutdown);
  anon_send_exit(limiter, caf::exit_reason::user_shutdown);
  run();
  start(1);
  self->send(w, mk_task("t4", "marie"), uint64_t{0});
  settle_messages();
  rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 1u);
  CAF_CHECK_EQUAL(rs[0].error->kind, "spend_cap");
  CAF_CHECK_EQUAL(exec->seen.size(), 2u);
  std::filesystem::remove_all(root);
}

CAF_TEST(parked by the day cap the worker runs again once the day turns) {
  auto root = std::filesystem::temp_directory_path()
              / ("troupe-dayturn-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  // A minute before midnight UTC, on the scheduler's clock.
  auto midnight = next_utc_day_ms(unix_now_ms());
  wall = wall_from(midnight - 60'000);
  cap = {root.string(), 0.05, wall};
  exec->cost = 0.06;
  start(1);
  self->send(w, mk_task("t1", "marie"), uint64_t{0});
  self->send(w, mk_task("t2", "marie"), uint64_t{0});
  settle_messages();
  auto rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 2u);
  CAF_CHECK(rs[0].ok());
  CAF_CHECK_EQUAL(rs[1].error->kind, "spend_cap");
  CAF_CHECK_EQUAL(rs[1].extra.value(resumes_at_key, int64_t{0}), midnight);
  // Still the same day: a task sent now is answered parked.
  advance_time(59s);
  settle_messages();
  self->send(w, mk_task("t3", "marie"), uint64_t{0});
  settle_messages();
  rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 1u);
  CAF_CHECK_EQUAL(rs[0].error->kind, "spend_cap");
  // Midnight: the park's timer ends it and the new day has its own ledger.
  advance_time(1s);
  settle_messages();
  self->send(w, mk_task("t4", "marie"), uint64_t{0});
  settle_messages();
  rs = results();
  CAF_REQUIRE_EQUAL(rs.size(), 1u);
  CAF_CHECK(rs[0].ok());
  CAF_CHECK_EQUAL(exec->seen.size(), 2u);
  CAF_CHECK_EQUAL(read_day_spend(root.string(), utc_day(midnight - 1)).runs, 1);
  CAF_CHECK_EQUAL(read_day_spend(root.string(), utc_day(midnight)).runs, 1);
  std::filesystem::remove_all(root);
}

CAF_TEST(behind a gateway it starts nothing while the account is parked) {
  start(2, rate_limits{0, 1000, 0}, false, true);
  // Parked for 5 minutes: a subscription window rejected the account.
  self->send(limiter, cooldown_atom_v, std::string{every_model}, int64_t{300000});
  settle_messages();
  self->send(w, mk_task("t1", "marie"), uint64_t{0});
  self->send(w, mk_task("t2", "marie"), uint64_t{0});
  settle_messages();
  advance_time(299s);
  settle_messages();
  CAF_CHECK(exec->seen.empty());
  advance_time(1s);
  settle_messages();
  CAF_CHECK_EQUAL(exec->seen.size(), 2u);
  CAF_CHECK_EQUAL(results().size(), 2u);
  // Nothing parked: the gate is no wait.
  for (int i = 3; i <= 5; ++i)
    self->send(w, mk_task("t" + std::to_string(i), "marie"), uint64_t{0});
  settle_messages();
  CAF_CHECK_EQUAL(exec->seen.size(), 5u);
}

CAF_TEST(a cancelled task that waits is answered at once and one that runs ends now) {
  exec->lat = 100ms;
  start(1);
  self->send(w, mk_task("running", "marie"), uint64_t{1});
  self->send(w, mk_task("queued", "marie"), uint64_t{2});
  self->send(w, mk_task("after", "marie"), uint64_t{3});
  settle_messages();
  CAF_REQUIRE_EQUAL(exec->seen.size(), 1u); // one slot: "running" runs
  self->send(w, cancel_atom_v, std::string{"queued"});
  self->send(w, cancel_atom_v, std::string{"running"});
  settle_messages();
  auto xs = results();
  CAF_REQUIRE_EQUAL(xs.size(), 2u);
  for (auto& r : xs) {
    CAF_CHECK(r.state == status::cancelled);
    CAF_CHECK_EQUAL(r.error->kind, "cancelled");
  }
  CAF_CHECK_EQUAL(xs[0].task_id, "queued");
  CAF_CHECK_EQUAL(xs[0].error->message, "cancelled before it ran");
  CAF_CHECK_EQUAL(xs[1].task_id, "running");
  // Its slot is free: the next task started, and the cancelled run's late
  // result (its timer) is not a second answer.
  CAF_CHECK_EQUAL(exec->seen.size(), 2u);
  CAF_CHECK_EQUAL(exec->seen.back().task_id, "after");
  sched.trigger_timeouts();
  settle_messages();
  xs = results();
  CAF_REQUIRE_EQUAL(xs.size(), 1u);
  CAF_CHECK_EQUAL(xs[0].task_id, "after");
  CAF_CHECK(xs[0].ok());
}

CAF_TEST(a cancel of a task it does not hold changes nothing) {
  exec->lat = 100ms;
  start(1);
  self->send(w, mk_task("t", "marie"), uint64_t{1});
  settle_messages();
  self->send(w, cancel_atom_v, std::string{"other"});
  settle_messages();
  CAF_CHECK(results().empty());
  sched.trigger_timeouts();
  settle_messages();
  auto xs = results();
  CAF_REQUIRE_EQUAL(xs.size(), 1u);
  CAF_CHECK(xs[0].ok());
}

CAF_TEST_FIXTURE_SCOPE_END()

#define CAF_SUITE orchestrator

#include "actors/orchestrator.hpp"

#include "actors/rate_limiter.hpp"
#include "actors/worker.hpp"
#include "caf/all.hpp"
#include "core/prompt.hpp"
#include "core/resume.hpp"
#include "fixture.hpp"

#include <algorithm>

using namespace troupe;
using namespace troupe::testing;

namespace {

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<scripted_executor> exec = std::make_shared<scripted_executor>();
  orchestrator_actor orch;

  fixture() : fixture(backoff_policy{0, 0}) {
  }

  explicit fixture(backoff_policy backoff,
                   std::function<double(const task&)> least_cost = {}) {
    auto limiter = sys.spawn(rate_limiter, rate_limits{}, std::map<std::string, rate_limits>{},
                             caf::timespan{std::chrono::seconds(10)}, day_cap_settings{},
                             std::shared_ptr<meter_store>{});
    std::map<std::string, worker_actor> workers;
    for (auto name : {"marie", "anga"}) {
      worker_settings ws;
      ws.name = name;
      ws.slots = 4;
      workers[name] = sys.spawn(worker, ws, exec, limiter, recorder_actor{});
    }
    orchestrator_settings os;
    os.max_attempts = {{"marie", 2}, {"anga", 1}};
    os.make_run_id = [] { return std::string{"run-1"}; };
    os.backoff = backoff;
    os.seed = 42;
    os.least_cost = std::move(least_cost);
    orch = sys.spawn(orchestrator, os, workers, recorder_actor{});
    run();
  }

  run_summary run_workflow(std::vector<task> tasks, std::vector<result> prior = {},
                           std::optional<double> budget = std::nullopt) {
    workflow wf;
    wf.name = "test";
    wf.budget_usd = budget;
    wf.tasks = std::move(tasks);
    wf.prior = std::move(prior);
    self->send(orch, run_atom_v, wf);
    run();
    run_summary got;
    bool received = false;
    self->receive([&](run_summary& s) { got = std::move(s); received = true; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    CAF_REQUIRE(received);
    return got;
  }

  static const result& by_id(const run_summary& s, const std::string& id) {
    for (auto& r : s.results)
      if (r.task_id == id)
        return r;
    CAF_FAIL("no result for " << id);
    return s.results.front();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(orchestrator_tests, fixture)

CAF_TEST(diamond runs the join last and hands it both results) {
  auto s = run_workflow({mk_task("a", "marie"), mk_task("b", "marie", {"a"}),
                         mk_task("c", "anga", {"a"}),
                         mk_task("d", "anga", {"b", "c"})});
  CAF_CHECK(s.all_complete());
  CAF_CHECK_EQUAL(s.run_id, "run-1");
  auto order = exec->order();
  CAF_REQUIRE_EQUAL(order.size(), 4u);
  CAF_CHECK_EQUAL(order.front(), "a");
  CAF_CHECK_EQUAL(order.back(), "d");
  auto& d = exec->seen.back();
  auto deps = d.context["dependency_results"];
  CAF_CHECK_EQUAL(deps.size(), 2u);
  CAF_CHECK_EQUAL(deps["b"]["summary"], "did b");
  CAF_CHECK_EQUAL(deps["c"]["findings"], json({"finding of c"}));
  CAF_CHECK_EQUAL(deps["c"]["artifacts"], json({"workspaces/anga/c.md"}));
  // Artifact-only hand-off: nothing but these keys.
  std::set<std::string> keys;
  for (auto& [k, v] : deps["b"].items())
    keys.insert(k);
  CAF_CHECK_EQUAL(keys, (std::set<std::string>{"artifacts", "findings",
                                                "status", "summary", "worker"}));
  // Results come back in workflow order.
  CAF_CHECK_EQUAL(s.results[3].task_id, "d");
}

CAF_TEST(failure fails the dependents with the reason and spares the rest) {
  exec->outcomes["a"] = {"auth"}; // not retryable
  auto s = run_workflow({mk_task("a", "anga"), mk_task("b", "marie", {"a"}),
                         mk_task("c", "marie", {"b"}), mk_task("x", "marie")});
  CAF_CHECK(!s.all_complete());
  CAF_CHECK_EQUAL(by_id(s, "a").error->kind, "auth");
  auto& b = by_id(s, "b");
  CAF_CHECK(b.state == status::failed);
  CAF_CHECK_EQUAL(b.error->kind, "dependency_failed");
  CAF_CHECK_EQUAL(b.error->message,
                  "dependency \"a\" failed (auth: scripted auth)");
  CAF_CHECK_EQUAL(by_id(s, "c").error->kind, "dependency_failed");
  CAF_CHECK(by_id(s, "x").ok());
  // b and c never ran.
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"a", "x"}));
}

CAF_TEST(retryable failure is retried up to the worker max_attempts) {
  exec->outcomes["m"] = {"overloaded"};          // marie: 2 attempts
  exec->outcomes["g"] = {"overloaded"};          // anga: 1 attempt
  exec->outcomes["n"] = {"timeout", "timeout"};  // marie, fails twice
  auto s = run_workflow({mk_task("m", "marie"), mk_task("g", "anga"),
                         mk_task("n", "marie")});
  CAF_CHECK(by_id(s, "m").ok());
  CAF_CHECK_EQUAL(by_id(s, "m").attempt, 2);
  CAF_CHECK_EQUAL(by_id(s, "g").error->kind, "overloaded");
  CAF_CHECK_EQUAL(by_id(s, "g").attempt, 1);
  CAF_CHECK_EQUAL(by_id(s, "n").error->kind, "timeout");
  CAF_CHECK_EQUAL(by_id(s, "n").attempt, 2);
}

CAF_TEST(a retry after refused output is told why and others are not) {
  exec->outcomes["m"] = {"bad_output"}; // marie: 2 attempts
  exec->outcomes["n"] = {"timeout"};
  auto s = run_workflow({mk_task("m", "marie"), mk_task("n", "marie")});
  CAF_CHECK(by_id(s, "m").ok());
  std::vector<json> told;
  for (auto& t : exec->seen)
    told.push_back(t.context.is_object() && t.context.contains(previous_failure_key)
                     ? t.context[previous_failure_key] : json{});
  CAF_REQUIRE_EQUAL(exec->seen.size(), 4u);
  for (size_t i = 0; i < exec->seen.size(); ++i) {
    bool second_of_m = exec->seen[i].task_id == "m" && i > 0
                       && std::count_if(exec->seen.begin(), exec->seen.begin() + i,
                                        [](const task& t) { return t.task_id == "m"; });
    if (second_of_m) {
      CAF_CHECK_EQUAL(told[i].value("kind", ""), "bad_output");
      CAF_CHECK_EQUAL(told[i].value("message", ""), "scripted bad_output");
    } else {
      CAF_CHECK(told[i].is_null());
    }
  }
}

CAF_TEST(high priority tasks are released first) {
  auto s = run_workflow({mk_task("low", "marie", {}, priority::low),
                         mk_task("mid", "marie"),
                         mk_task("high", "marie", {}, priority::high)});
  CAF_CHECK(s.all_complete());
  CAF_CHECK_EQUAL(exec->order(),
                  (std::vector<std::string>{"high", "mid", "low"}));
}

CAF_TEST(a workflow budget is shared out and nothing runs once it is spent) {
  exec->cost = 0.4;
  workflow wf;
  wf.name = "budget";
  wf.budget_usd = 1.0;
  wf.tasks = {mk_task("t1", "marie"), mk_task("t2", "marie", {"t1"}),
              mk_task("t3", "marie", {"t2"}), mk_task("t4", "marie", {"t3"})};
  self->send(orch, run_atom_v, wf);
  run();
  run_summary s;
  self->receive([&](run_summary& x) { s = std::move(x); },
                caf::after(std::chrono::seconds(0)) >> [] {});
  // Shares of what is left: 1.0 / 4, 0.6 / 3, 0.2 / 2; then nothing left.
  CAF_REQUIRE_EQUAL(exec->seen.size(), 3u);
  CAF_CHECK_LESS(std::abs(*exec->seen[0].budget_usd - 0.25), 1e-9);
  CAF_CHECK_LESS(std::abs(*exec->seen[1].budget_usd - 0.2), 1e-9);
  CAF_CHECK_LESS(std::abs(*exec->seen[2].budget_usd - 0.1), 1e-9);
  auto& t4 = by_id(s, "t4");
  CAF_CHECK(t4.state == status::cancelled);
  CAF_CHECK_EQUAL(t4.error->kind, "budget");
  CAF_CHECK(t4.error->message.find("budget of $1.0000 is spent ($1.2000)")
            != std::string::npos);
}

CAF_TEST(unknown worker refuses the whole run) {
  workflow wf;
  wf.name = "bad";
  wf.tasks = {mk_task("a", "marie"), mk_task("z", "zoe")};
  self->send(orch, run_atom_v, wf);
  run();
  bool got_error = false;
  self->receive([&](caf::error& err) { got_error = true; },
                [&](run_summary&) {},
                caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK(got_error);
  CAF_CHECK(exec->seen.empty());
}

CAF_TEST(a_result_from_an_earlier_run_is_handed_on_not_run_again) {
  auto a = mk_task("a", "marie");
  result earlier;
  earlier.task_id = "a";
  earlier.worker = "marie";
  earlier.state = status::complete;
  earlier.summary = "did a yesterday";
  earlier.attempt = 2;
  earlier.cost_usd = 0.5;
  auto s = run_workflow({a, mk_task("b", "marie", {"a"})}, {earlier});
  CAF_CHECK(s.all_complete());
  // Only b ran, given a's earlier result.
  CAF_REQUIRE_EQUAL(exec->order(), std::vector<std::string>{"b"});
  CAF_CHECK_EQUAL(exec->seen[0].context["dependency_results"]["a"]["summary"], "did a yesterday");
  CAF_CHECK_EQUAL(by_id(s, "a").summary, "did a yesterday");
  CAF_CHECK_EQUAL(by_id(s, "a").attempt, 2);
  // Both carry the digest of what they answer, for the next run.
  CAF_CHECK_EQUAL(by_id(s, "a").extra[task_digest_key], task_digest(a));
  CAF_CHECK(by_id(s, "b").extra[task_digest_key].is_string());
}

CAF_TEST(a cancelled run stops what runs and starts nothing and its dependents end cancelled) {
  exec->lat = std::chrono::milliseconds(100);
  workflow wf;
  wf.name = "cancel";
  wf.tasks = {mk_task("a", "marie"), mk_task("b", "anga"), mk_task("c", "marie", {"a"}),
              mk_task("d", "anga", {"c"})};
  self->send(orch, run_atom_v, wf);
  while (sched.try_run_once())
    ;
  CAF_REQUIRE_EQUAL(exec->seen.size(), 2u); // a and b run
  self->send(orch, cancel_atom_v, std::string{"run-1"}, std::string{});
  run();
  int32_t taken = -1;
  run_summary s;
  for (int i = 0; i < 2; ++i)
    self->receive([&](int32_t n) { taken = n; },
                  [&](run_summary& x) { s = std::move(x); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK_EQUAL(taken, 4);
  CAF_REQUIRE_EQUAL(s.results.size(), 4u);
  CAF_CHECK_EQUAL(exec->seen.size(), 2u); // c and d never started
  for (auto& r : s.results) {
    CAF_CHECK(r.state == status::cancelled);
    CAF_CHECK_EQUAL(r.error->kind, "cancelled");
  }
  CAF_CHECK(by_id(s, "d").error->message.find("not run: dependency \"a\" was cancelled")
            != std::string::npos);
}

CAF_TEST(a task awaiting approval runs only once approved and a rejected one ends its dependents) {
  workflow wf;
  wf.name = "approve";
  auto a = mk_task("a", "marie");
  a.approve = true;
  auto b = mk_task("b", "anga");
  b.approve = true;
  wf.tasks = {a, b, mk_task("c", "marie", {"a"}), mk_task("d", "anga", {"b"}),
              mk_task("free", "anga")};
  self->send(orch, run_atom_v, wf);
  run();
  // Only the task that needs nobody ran; nothing answered yet.
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"free"}));
  self->send(orch, approve_atom_v, std::string{}, std::string{"nope"}, true, std::string{});
  run();
  int32_t found = -1;
  self->receive([&](int32_t n) { found = n; }, caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK_EQUAL(found, 0);
  self->send(orch, approve_atom_v, std::string{"run-1"}, std::string{"a"}, true, std::string{});
  run();
  self->receive([&](int32_t n) { found = n; }, caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK_EQUAL(found, 1);
  CAF_CHECK_EQUAL(exec->order(), (std::vector<std::string>{"free", "a", "c"}));
  self->send(orch, approve_atom_v, std::string{}, std::string{"b"}, false,
             std::string{"too dear"});
  run();
  run_summary s;
  for (int i = 0; i < 2; ++i)
    self->receive([](int32_t) {}, [&](run_summary& x) { s = std::move(x); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_REQUIRE_EQUAL(s.results.size(), 5u);
  CAF_CHECK(by_id(s, "a").ok() && by_id(s, "c").ok());
  CAF_CHECK(by_id(s, "b").state == status::cancelled);
  CAF_CHECK_EQUAL(by_id(s, "b").error->kind, "rejected");
  CAF_CHECK_EQUAL(by_id(s, "b").error->message, "rejected: too dear");
  CAF_CHECK(by_id(s, "d").state == status::cancelled);
  CAF_CHECK_EQUAL(exec->seen.size(), 3u); // b and d never ran
}

CAF_TEST(a cancel or a stop ends a task awaiting approval) {
  workflow wf;
  wf.name = "approve-cancel";
  auto a = mk_task("a", "marie");
  a.approve = true;
  wf.tasks = {a};
  self->send(orch, run_atom_v, wf);
  run();
  self->send(orch, cancel_atom_v, std::string{}, std::string{"a"});
  run();
  run_summary s;
  for (int i = 0; i < 2; ++i)
    self->receive([](int32_t) {}, [&](run_summary& x) { s = std::move(x); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_REQUIRE_EQUAL(s.results.size(), 1u);
  CAF_CHECK_EQUAL(s.results[0].error->message, "cancelled while it awaited approval");
  CAF_CHECK(exec->seen.empty());
  self->send(orch, run_atom_v, wf);
  run();
  self->send(orch, stop_atom_v);
  run();
  bool got = false;
  self->receive([&](run_summary& x) { s = std::move(x); got = true; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_REQUIRE(got);
  CAF_CHECK(is_stopped_result(s.results[0]));
  CAF_CHECK(exec->seen.empty());
}

CAF_TEST(a cancel of one task spares the others) {
  exec->lat = std::chrono::milliseconds(100);
  workflow wf;
  wf.name = "cancel-one";
  wf.tasks = {mk_task("a", "marie"), mk_task("b", "anga")};
  self->send(orch, run_atom_v, wf);
  while (sched.try_run_once())
    ;
  self->send(orch, cancel_atom_v, std::string{}, std::string{"a"});
  while (sched.try_run_once())
    ;
  sched.trigger_timeouts();
  run();
  run_summary s;
  for (int i = 0; i < 2; ++i)
    self->receive([](int32_t) {}, [&](run_summary& x) { s = std::move(x); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_REQUIRE_EQUAL(s.results.size(), 2u);
  CAF_CHECK(by_id(s, "a").state == status::cancelled);
  CAF_CHECK(by_id(s, "b").ok());
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

struct backoff_fixture : fixture {
  backoff_fixture() : fixture(backoff_policy{1000, 60000}) {
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(orchestrator_backoff_tests, backoff_fixture)

CAF_TEST(a retry waits for its backoff and the dead letter keeps every attempt) {
  exec->outcomes["m"] = {"overloaded", "server_error"}; // marie: 2 attempts
  workflow wf;
  wf.name = "backoff";
  wf.tasks = {mk_task("m", "marie")};
  self->send(orch, run_atom_v, wf);
  while (sched.try_run_once())
    ; // messages only: timers stay pending
  CAF_CHECK_EQUAL(exec->seen.size(), 1u);
  advance_time(std::chrono::milliseconds(499)); // jitter: at least 500 ms
  while (sched.try_run_once())
    ;
  CAF_CHECK_EQUAL(exec->seen.size(), 1u);
  advance_time(std::chrono::milliseconds(501)); // at most 1000 ms
  while (sched.try_run_once())
    ;
  CAF_CHECK_EQUAL(exec->seen.size(), 2u);
  run_summary s;
  self->receive([&](run_summary& x) { s = std::move(x); },
                caf::after(std::chrono::seconds(0)) >> [] { CAF_FAIL("no summary"); });
  auto& r = s.results.at(0);
  CAF_CHECK_EQUAL(r.error->kind, "server_error");
  CAF_CHECK_EQUAL(r.attempt, 2);
  auto attempts = r.extra["attempts"];
  CAF_REQUIRE_EQUAL(attempts.size(), 2u);
  CAF_CHECK_EQUAL(attempts[0]["kind"], "overloaded");
  CAF_CHECK_EQUAL(attempts[1]["kind"], "server_error");
  CAF_CHECK_EQUAL(attempts[1]["attempt"], 2);
}

CAF_TEST(a stop drops a retry that waits for its backoff) {
  exec->outcomes["m"] = {"overloaded"}; // would be tried again in 0.5-1 s
  workflow wf;
  wf.name = "stopped";
  wf.tasks = {mk_task("m", "marie")};
  self->send(orch, run_atom_v, wf);
  while (sched.try_run_once())
    ; // messages only: the retry's timer stays pending
  CAF_CHECK_EQUAL(exec->seen.size(), 1u);
  self->send(orch, stop_atom_v);
  while (sched.try_run_once())
    ;
  // The run ends without any time passing, and the timer finds nothing.
  run_summary s;
  self->receive([&](run_summary& x) { s = std::move(x); },
                caf::after(std::chrono::seconds(0)) >> [] { CAF_FAIL("no summary"); });
  CAF_REQUIRE_EQUAL(s.results.size(), 1u);
  CAF_CHECK(s.results[0].state == status::cancelled);
  CAF_CHECK_EQUAL(s.results[0].error->kind, "stopping");
  advance_time(std::chrono::seconds(2));
  while (sched.try_run_once())
    ;
  CAF_CHECK_EQUAL(exec->seen.size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

// Tasks cost at least $0.30 here: a smaller reservation does not fit.
struct budget_fixture : fixture {
  budget_fixture()
    : fixture(backoff_policy{0, 0}, [](const task&) { return 0.3; }) {
  }

  static double spent(const run_summary& s) {
    double x = 0;
    for (auto& r : s.results)
      x += r.cost_usd;
    return x;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(orchestrator_budget_tests, budget_fixture)

CAF_TEST(reservations never add up past the budget and unspent money returns) {
  exec->cost = 0.1;
  exec->past_cap = 0.0;
  // Four at once (marie has four slots), then one after all of them.
  auto s = run_workflow({mk_task("a", "marie"), mk_task("b", "marie"),
                         mk_task("c", "marie"), mk_task("d", "marie"),
                         mk_task("e", "marie", {"a", "b", "c", "d"})},
                        {}, 2.0);
  CAF_REQUIRE_EQUAL(exec->seen.size(), 5u);
  double at_once = 0;
  for (size_t i = 0; i < 4; ++i)
    at_once += *exec->seen[i].budget_usd;
  // 2.0/5 each: the four running reserve 1.6, never more than the budget.
  CAF_CHECK_LESS(std::abs(at_once - 1.6), 1e-9);
  // They spent 0.4 of it: the rest came back, and e may reserve all 1.6.
  CAF_CHECK_LESS(std::abs(*exec->seen[4].budget_usd - 1.6), 1e-9);
  CAF_CHECK(s.all_complete());
  CAF_CHECK_LESS(std::abs(spent(s) - 0.5), 1e-9);
}

CAF_TEST(a run whose tasks honour their caps never spends past its budget) {
  exec->cost = 0.45; // each would like more than its share
  exec->past_cap = 0.0;
  auto s = run_workflow({mk_task("a", "marie"), mk_task("b", "marie"),
                         mk_task("c", "anga"), mk_task("d", "marie", {"a"}),
                         mk_task("e", "anga", {"c", "d"})},
                        {}, 1.5);
  CAF_CHECK_LESS_OR_EQUAL(spent(s), 1.5 + 1e-9);
  // Every task that ran could afford its least cost when it started.
  for (auto& t : exec->seen)
    CAF_CHECK_GREATER_OR_EQUAL(*t.budget_usd + 1e-9, 0.3);
  // 1.5/5 = 0.3 for a, b, c; d gets 0.3 of the 0.6 left with 2 to go; e
  // then has 0.3: all five ran, 1.5 spent to the cent.
  CAF_CHECK_EQUAL(exec->seen.size(), 5u);
  CAF_CHECK_LESS(std::abs(spent(s) - 1.5), 1e-9);
}

CAF_TEST(a run overshoots by at most what each running task spends past its cap) {
  exec->cost = 1.0;
  exec->past_cap = 0.02; // the CLI's last turn goes past its cap
  auto s = run_workflow({mk_task("a", "marie"), mk_task("b", "marie"),
                         mk_task("c", "marie", {"a", "b"})},
                        {}, 0.9);
  // a and b run together on 0.3 each and spend 0.32; the 0.26 left is
  // below the least a task costs (0.3), so c does not start.
  CAF_CHECK_EQUAL(exec->seen.size(), 2u);
  CAF_CHECK_LESS_OR_EQUAL(spent(s), 0.9 + 2 * 0.02 + 1e-9);
  auto& c = by_id(s, "c");
  CAF_CHECK(c.state == status::cancelled);
  CAF_REQUIRE(c.error);
  CAF_CHECK_EQUAL(c.error->kind, "budget");
  CAF_CHECK(c.error->message.find("does not fit: such a task costs at least $0.3000")
            != std::string::npos);
  CAF_CHECK_EQUAL(c.cost_usd, 0.0);
}

CAF_TEST(a task whose own cap is larger takes only what is left) {
  exec->costs = {{"a", 0.5}, {"b", 2.0}};
  exec->past_cap = 0.0;
  auto a = mk_task("a", "marie");
  auto b = mk_task("b", "marie", {"a"});
  b.budget_usd = 5.0;
  auto s = run_workflow({a, b}, {}, 1.0);
  CAF_REQUIRE_EQUAL(exec->seen.size(), 2u);
  CAF_CHECK_LESS(std::abs(*exec->seen[0].budget_usd - 0.5), 1e-9);
  CAF_CHECK_LESS(std::abs(*exec->seen[1].budget_usd - 0.5), 1e-9);
  CAF_CHECK_LESS(std::abs(spent(s) - 1.0), 1e-9);
}

CAF_TEST_FIXTURE_SCOPE_END()

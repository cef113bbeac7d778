#define CAF_SUITE rate_limiter

#include "actors/rate_limiter.hpp"

#include "caf/all.hpp"
#include "fixture.hpp"

using namespace troupe;
using namespace troupe::testing;
using namespace std::chrono_literals;

namespace {

struct fixture : test_coordinator_fixture<test_config> {
  rate_limiter_actor limiter;

  void start(rate_limits global, std::map<std::string, rate_limits> workers = {}) {
    limiter = sys.spawn(rate_limiter, global, workers,
                        caf::timespan{std::chrono::seconds(10)}, day_cap_settings{},
                             std::shared_ptr<meter_store>{});
    run();
  }

  void ask(std::string worker, double in, priority p = priority::medium,
           std::string model = "claude-sonnet-4-5") {
    permit_ask a;
    a.worker = std::move(worker);
    a.model = std::move(model);
    a.prio = p;
    a.input_tokens = in;
    self->send(limiter, permit_atom_v, a);
  }

  void settle_messages() {
    while (sched.try_run_once())
      ;
  }

  std::vector<permit_ask> granted() {
    std::vector<permit_ask> xs;
    bool more = true;
    while (more)
      self->receive([&](permit_ask& p) { xs.push_back(std::move(p)); },
                    caf::after(0s) >> [&] { more = false; });
    return xs;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(rate_limiter_tests, fixture)

CAF_TEST(grants at once within the buckets) {
  start(rate_limits{0, 1000, 0});
  ask("marie", 400);
  ask("anga", 400);
  settle_messages();
  CAF_CHECK_EQUAL(granted().size(), 2u);
}

CAF_TEST(holds a permit until the bucket refills then grants in order) {
  start(rate_limits{0, 600, 0}); // 10 tokens per second
  ask("marie", 500);
  ask("anga", 300);  // 100 left: waits 20 s
  ask("fabien", 50); // fits now, but FIFO keeps it behind anga
  settle_messages();
  auto first = granted();
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK_EQUAL(first[0].worker, "marie");
  // marie's run ends having used what it reserved.
  self->send(limiter, settle_atom_v, first[0], run_usage{1, 500, 0});
  settle_messages();
  advance_time(19s);
  settle_messages();
  CAF_CHECK(granted().empty());
  advance_time(1s); // the limiter's own timer fires: anga's turn
  settle_messages();
  auto second = granted();
  CAF_REQUIRE_EQUAL(second.size(), 1u);
  CAF_CHECK_EQUAL(second[0].worker, "anga");
  advance_time(5s);
  settle_messages();
  auto third = granted();
  CAF_REQUIRE_EQUAL(third.size(), 1u);
  CAF_CHECK_EQUAL(third[0].worker, "fabien");
}

CAF_TEST(per worker buckets hold one worker without blocking the others) {
  start(rate_limits{}, {{"marie", rate_limits{1, 0, 0}}});
  ask("marie", 1);
  ask("marie", 1);
  ask("anga", 1);
  settle_messages();
  auto got = granted();
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  CAF_CHECK_EQUAL(got[0].worker, "marie");
  CAF_CHECK_EQUAL(got[1].worker, "anga");
  self->send(limiter, settle_atom_v, got[0], run_usage{1, 1, 0});
  settle_messages();
  advance_time(60s);
  settle_messages();
  CAF_CHECK_EQUAL(granted().size(), 1u);
}

CAF_TEST(settling a smaller actual usage frees tokens for waiting asks) {
  start(rate_limits{0, 0, 1000});
  permit_ask big;
  big.worker = "marie";
  big.model = "claude-sonnet-4-5";
  big.output_tokens = 1000;
  self->send(limiter, permit_atom_v, big);
  settle_messages();
  auto got = granted();
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  big.output_tokens = 600;
  self->send(limiter, permit_atom_v, big); // waits: 0 left
  settle_messages();
  CAF_CHECK(granted().empty());
  self->send(limiter, settle_atom_v, got[0], run_usage{1, 0, 200});
  settle_messages(); // 800 come back: the waiting ask fits
  CAF_CHECK_EQUAL(granted().size(), 1u);
}

CAF_TEST(a 429 honours the retry-after then resumes at the configured rate) {
  start(rate_limits{60, 0, 0}); // one request per second
  ask("marie", 1);
  settle_messages();
  CAF_CHECK_EQUAL(granted().size(), 1u);
  // The API said 429 with a wait of 3 s: nothing of that model class goes
  // out before; then only what accrued since (3 requests, not the 59 left
  // before the 429), and one a second after that.
  self->send(limiter, cooldown_atom_v, std::string{"claude-sonnet-4-5"},
             int64_t{3000});
  for (int i = 0; i < 4; ++i)
    ask("anga", 1);
  settle_messages();
  CAF_CHECK(granted().empty());
  advance_time(std::chrono::milliseconds(2999));
  settle_messages();
  CAF_CHECK(granted().empty());
  advance_time(std::chrono::milliseconds(1));
  settle_messages();
  CAF_CHECK_EQUAL(granted().size(), 3u);
  advance_time(std::chrono::seconds(1));
  settle_messages();
  CAF_CHECK_EQUAL(granted().size(), 1u);
}

CAF_TEST(a 429 without a known wait pauses for the configured default) {
  start(rate_limits{0, 0, 0});
  self->send(limiter, cooldown_atom_v, std::string{"claude-opus-4-1"},
             int64_t{0});
  ask("marie", 1, priority::medium, "claude-opus-4-1");
  ask("anga", 1, priority::medium, "claude-haiku-4-5"); // another class: not paused
  settle_messages();
  auto got = granted();
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0].worker, "anga");
  advance_time(std::chrono::seconds(10));
  settle_messages();
  got = granted();
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0].worker, "marie");
}

CAF_TEST(a_gate_waits_only_while_the_account_is_parked) {
  start(rate_limits{0, 600, 0});
  // Nothing parked: through at once, whatever the buckets hold.
  ask("marie", 600);
  self->send(limiter, permit_atom_v, gate_ask("anga"));
  settle_messages();
  CAF_CHECK_EQUAL(granted().size(), 2u);
  // A subscription window rejects the account for 60 s.
  self->send(limiter, cooldown_atom_v, std::string{every_model}, int64_t{60000});
  settle_messages();
  self->send(limiter, permit_atom_v, gate_ask("anga"));
  self->send(limiter, permit_atom_v, gate_ask("fabien"));
  settle_messages();
  advance_time(59s);
  settle_messages();
  CAF_CHECK(granted().empty());
  advance_time(1s);
  settle_messages();
  auto back = granted();
  CAF_REQUIRE_EQUAL(back.size(), 2u);
  CAF_CHECK_EQUAL(back[0].worker, "anga");
  CAF_CHECK(is_gate(back[1]));
}

CAF_TEST_FIXTURE_SCOPE_END()

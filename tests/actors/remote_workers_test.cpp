#define CAF_SUITE remote_workers

// The orchestrator's stand-in for remote workers (bridge/remote_worker): a
// task sent to it reaches the broker at once, with where to answer; the
// answer reaches the asker as a plain message or as the response to its
// request; results that came as JSON text are decoded (or fail their task).

#include "bridge/zmq/remote_workers.hpp"

#include "caf/all.hpp"
#include "core/json_codec.hpp"
#include "core/json_text.hpp"
#include "fixture.hpp"

using namespace troupe;
using namespace troupe::testing;

namespace {

struct fixture : test_coordinator_fixture<test_config> {
  std::vector<broker_note> notes; // what the broker would get
  remote_workers remote{sys, [this](broker_note n) { notes.push_back(std::move(n)); }};

  static task make_task(const std::string& id) {
    task t;
    t.task_id = id;
    t.worker = "marie";
    t.description = "Evaluate \"Emma\"";
    return t;
  }

  static result make_result(const std::string& id) {
    result r;
    r.task_id = id;
    r.worker = "marie";
    r.state = status::complete;
    r.summary = "done";
    return r;
  }

  broker_note::dispatch& last_dispatch() {
    CAF_REQUIRE(!notes.empty());
    auto* d = std::get_if<broker_note::dispatch>(&notes.back().v);
    CAF_REQUIRE(d != nullptr);
    return *d;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(remote_workers_tests, fixture)

CAF_TEST(a task goes to the broker at once with its JSON and where to answer) {
  self->send(remote.handle(), make_task("t1"), uint64_t{7});
  // No scheduling: the stand-in's mailbox is a callback on the sender's thread.
  CAF_REQUIRE_EQUAL(notes.size(), 1u);
  auto& d = last_dispatch();
  CAF_CHECK_EQUAL(d.t.task_id, "t1");
  CAF_CHECK_EQUAL(json::parse(d.wire), to_json(make_task("t1")));
  CAF_CHECK_EQUAL(d.reply.ticket, 7u);
  CAF_CHECK(d.reply.to == caf::actor_cast<caf::strong_actor_ptr>(self));
  CAF_CHECK(!d.reply.mid.is_request());
  auto first = d.ticket;
  self->send(remote.handle(), make_task("t2"), uint64_t{8});
  CAF_CHECK_EQUAL(last_dispatch().ticket, first + 1); // the wire's tickets never repeat
}

CAF_TEST(a plain send is answered with a plain message) {
  self->send(remote.handle(), make_task("t1"), uint64_t{7});
  answer(last_dispatch().reply, make_result("t1"));
  bool got = false;
  self->receive(
    [&](result& r, uint64_t ticket) {
      got = true;
      CAF_CHECK_EQUAL(r.task_id, "t1");
      CAF_CHECK_EQUAL(ticket, 7u);
    },
    caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK(got);
}

CAF_TEST(a request is answered as its response) {
  auto req = self->request(remote.handle(), std::chrono::seconds(1), make_task("t3"),
                           uint64_t{9});
  CAF_CHECK(last_dispatch().reply.mid.is_request());
  answer(last_dispatch().reply, make_result("t3"));
  bool got = false;
  std::move(req).receive(
    [&](result& r, uint64_t ticket) {
      got = true;
      CAF_CHECK_EQUAL(r.task_id, "t3");
      CAF_CHECK_EQUAL(ticket, 9u);
    },
    [&](caf::error&) { CAF_FAIL("the request failed"); });
  CAF_CHECK(got);
}

CAF_TEST(stop becomes a stop note) {
  self->send(remote.handle(), stop_atom_v);
  CAF_REQUIRE_EQUAL(notes.size(), 1u);
  CAF_CHECK(std::holds_alternative<broker_note::stop>(notes.back().v));
}

CAF_TEST(results as text are decoded or fail their task) {
  ticketed_result x;
  x.r.task_id = "t4";
  x.r.worker = "marie";
  append_json(x.text, make_result("t4"));
  auto r = decode_result(x);
  CAF_CHECK(r.ok());
  CAF_CHECK_EQUAL(r.summary, "done");
  x.text = R"({"task_id": "t4"})"; // no status
  r = decode_result(x);
  CAF_CHECK_EQUAL(to_string(r.state), "failed");
  CAF_REQUIRE(r.error);
  CAF_CHECK_EQUAL(r.error->kind, "crashed");
  CAF_CHECK_EQUAL(r.task_id, "t4");
  CAF_CHECK_EQUAL(r.worker, "marie");
}

CAF_TEST(a decoder decodes and answers each result of a batch) {
  auto dec = sys.spawn(result_decoder);
  std::vector<ticketed_result> batch;
  for (uint64_t i = 0; i < 3; ++i) {
    ticketed_result x;
    x.reply = {caf::actor_cast<caf::strong_actor_ptr>(self), caf::make_message_id(), 100 + i};
    x.r.task_id = "b" + std::to_string(i);
    x.r.worker = "marie";
    if (i < 2)
      append_json(x.text, make_result(x.r.task_id));
    else
      x.r = make_result(x.r.task_id); // already decoded (e.g. a stopped result)
    batch.push_back(std::move(x));
  }
  self->send(dec, done_atom_v, std::move(batch));
  run();
  std::vector<uint64_t> tickets;
  for (int i = 0; i < 3; ++i)
    self->receive(
      [&](result& r, uint64_t ticket) {
        CAF_CHECK(r.ok());
        tickets.push_back(ticket);
      },
      caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK_EQUAL(tickets, (std::vector<uint64_t>{100, 101, 102}));
}

CAF_TEST_FIXTURE_SCOPE_END()

// The queue on Redis Streams against a real redis-server (started per
// test on a free loopback port, in a temp folder).
#include "bridge/redis/redis_queue.hpp"

#include <fstream>

#include <gtest/gtest.h>

#include "redis_server.hpp"

using namespace troupe;
using troupe::testing::redis_server;
using troupe::testing::url_of;

namespace {

task make_task(const std::string& id, const std::string& worker = "marie",
               std::vector<std::string> deps = {}, priority p = priority::medium) {
  task t;
  t.task_id = id;
  t.worker = worker;
  t.description = "do " + id;
  t.dependencies = std::move(deps);
  t.prio = p;
  return t;
}

result make_result(const task& t, status s = status::complete, const std::string& summary = "") {
  result r;
  r.task_id = t.task_id;
  r.worker = t.worker;
  r.state = s;
  r.summary = summary.empty() ? "done " + t.task_id : summary;
  r.completed_at = "2026-12-07T00:00:00.000Z";
  return r;
}

struct node {
  redis_client client;
  redis_queue q;
  node(const redis_server& s, const std::string& name, int64_t lease_ms = 30'000,
       int64_t max_deliveries = 5)
    : client(url_of(s), std::chrono::milliseconds(2000)),
      q(client, redis_queue_settings{"troupe:", "troupe", name, lease_ms, max_deliveries}) {
    EXPECT_TRUE(client.connected()) << client.error();
    EXPECT_EQ(q.prepare({"marie", "anga"}), "");
  }
};

std::vector<std::string> ids(const std::vector<claimed_task>& cs) {
  std::vector<std::string> out;
  for (auto& c : cs)
    out.push_back(c.t.task_id);
  return out;
}

} // namespace

TEST(redis_url, reads_host_port_db_and_user) {
  std::string err;
  auto u = parse_redis_url("redis://ops@cache.local:6380/3", err);
  ASSERT_TRUE(u) << err;
  EXPECT_EQ(u->host, "cache.local");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 3);
  EXPECT_EQ(u->user, "ops");
  auto d = parse_redis_url("redis://[::1]", err);
  ASSERT_TRUE(d) << err;
  EXPECT_EQ(d->host, "::1");
  EXPECT_EQ(d->port, redis_default_port);
}

TEST(redis_url, refuses_a_password_on_the_command_line_and_says_where_it_goes) {
  std::string err;
  EXPECT_FALSE(parse_redis_url("redis://ops:hunter2@h:6379", err));
  EXPECT_NE(err.find("REDISCLI_AUTH"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << "the refusal repeats the secret";
}

TEST(redis_url, refuses_tls_it_cannot_do_bad_ports_and_other_schemes) {
  std::string err;
  EXPECT_FALSE(parse_redis_url("rediss://h:6379", err));
  EXPECT_NE(err.find("TLS"), std::string::npos) << err;
  EXPECT_FALSE(parse_redis_url("redis://h:99999", err));
  EXPECT_NE(err.find("port"), std::string::npos) << err;
  EXPECT_FALSE(parse_redis_url("redis://h/x", err));
  EXPECT_FALSE(parse_redis_url("http://h", err));
}

TEST(redis_url, the_password_comes_from_a_file_before_the_environment) {
  redis_url u;
  auto path = std::filesystem::temp_directory_path() / ("troupe-pw-" + std::to_string(::getpid()));
  { std::ofstream(path) << "from-file\r\nsecond line\n"; }
  EXPECT_EQ(load_redis_password(u, path.string(), "from-env"), "");
  EXPECT_EQ(u.password, "from-file");
  redis_url e;
  EXPECT_EQ(load_redis_password(e, "", "from-env"), "");
  EXPECT_EQ(e.password, "from-env");
  EXPECT_NE(load_redis_password(e, "/nonexistent/pw", nullptr), "");
  std::filesystem::remove(path);
}

TEST(redis_client, a_server_that_wants_a_password_is_an_error_until_it_gets_it) {
  redis_server s{{"--requirepass", "sesame"}};
  auto u = url_of(s);
  redis_client none{u, std::chrono::milliseconds(2000)};
  EXPECT_FALSE(none.connected());
  EXPECT_NE(none.error().find("NOAUTH"), std::string::npos) << none.error();
  u.password = "wrong";
  redis_client bad{u, std::chrono::milliseconds(2000)};
  EXPECT_FALSE(bad.connected());
  EXPECT_EQ(bad.error().find("wrong"), std::string::npos) << "the error repeats the password";
  u.password = "sesame";
  redis_client good{u, std::chrono::milliseconds(2000)};
  EXPECT_TRUE(good.connected()) << good.error();
}

TEST(redis_client, nothing_listening_names_the_address) {
  redis_url u;
  u.port = troupe::testing::free_loopback_port();
  redis_client c{u, std::chrono::milliseconds(500)};
  EXPECT_FALSE(c.connected());
  EXPECT_NE(c.error().find("127.0.0.1:" + std::to_string(u.port)), std::string::npos) << c.error();
}

TEST(redis_queue, a_task_goes_in_is_claimed_once_and_keeps_one_result) {
  redis_server s;
  node a{s, "orch-a"}, b{s, "orch-b"};
  std::string err;
  EXPECT_EQ(a.q.enqueue(make_task("t1"), err), redis_queue::enqueued::queued) << err;
  EXPECT_EQ(b.q.enqueue(make_task("t1"), err), redis_queue::enqueued::duplicate) << err;
  auto got = a.q.claim("marie", 10, err);
  ASSERT_EQ(ids(got), std::vector<std::string>{"t1"}) << err;
  EXPECT_TRUE(b.q.claim("marie", 10, err).empty()) << "a claimed task went to a second consumer";
  EXPECT_EQ(a.q.counts("marie", err).claimed, 1);
  EXPECT_EQ(a.q.complete(got[0], make_result(got[0].t), err), true) << err;
  auto r = b.q.find_result("t1", err);
  ASSERT_TRUE(r) << err;
  EXPECT_EQ(r->summary, "done t1");
  EXPECT_EQ(a.q.enqueue(make_task("t1"), err), redis_queue::enqueued::done);
  auto n = a.q.counts("marie", err);
  EXPECT_EQ(n.queued + n.claimed, 0) << "the finished entry stays in the stream";
}

TEST(redis_queue, an_expired_lease_is_taken_over_and_the_first_result_wins) {
  redis_server s;
  node a{s, "orch-a"};
  node b{s, "orch-b", /*lease_ms=*/0}; // for b every lease has expired
  std::string err;
  a.q.enqueue(make_task("t1"), err);
  auto held = a.q.claim("marie", 1, err);
  ASSERT_EQ(held.size(), 1u);
  auto taken = b.q.take_over("marie", 10, err);
  ASSERT_EQ(ids(taken), std::vector<std::string>{"t1"}) << err;
  EXPECT_TRUE(taken[0].taken_over);
  EXPECT_EQ(taken[0].deliveries, 2);
  // a learns that it lost the task when it renews its lease.
  EXPECT_EQ(a.q.extend({&held[0]}, err), std::vector<std::string>{held[0].entry}) << err;
  EXPECT_TRUE(b.q.extend({&taken[0]}, err).empty()) << err;
  EXPECT_EQ(b.q.complete(taken[0], make_result(taken[0].t, status::complete, "by b"), err), true);
  EXPECT_EQ(a.q.complete(held[0], make_result(held[0].t, status::complete, "by a"), err), false);
  EXPECT_EQ(a.q.find_result("t1", err)->summary, "by b");
}

TEST(redis_queue, a_lease_renewed_in_time_is_not_taken_over) {
  redis_server s;
  node a{s, "orch-a"};
  node b{s, "orch-b", /*lease_ms=*/60'000};
  std::string err;
  a.q.enqueue(make_task("t1"), err);
  auto held = a.q.claim("marie", 1, err);
  EXPECT_TRUE(a.q.extend({&held[0]}, err).empty()) << err;
  EXPECT_TRUE(b.q.take_over("marie", 10, err).empty()) << err;
}

TEST(redis_queue, high_priority_is_claimed_first) {
  redis_server s;
  node a{s, "orch-a"};
  std::string err;
  a.q.enqueue(make_task("low", "marie", {}, priority::low), err);
  a.q.enqueue(make_task("mid", "marie", {}, priority::medium), err);
  a.q.enqueue(make_task("high", "marie", {}, priority::high), err);
  a.q.enqueue(make_task("high2", "marie", {}, priority::high), err);
  // Up to 1 from each stream, in priority order.
  EXPECT_EQ(ids(a.q.claim("marie", 1, err)), (std::vector<std::string>{"high", "mid", "low"}));
  EXPECT_EQ(ids(a.q.claim("marie", 1, err)), (std::vector<std::string>{"high2"}));
}

TEST(redis_queue, a_task_waits_for_its_dependencies_across_workers) {
  redis_server s;
  node a{s, "orch-a"};
  std::string err;
  EXPECT_EQ(a.q.enqueue(make_task("b", "anga", {"a1", "a2"}), err), redis_queue::enqueued::waiting);
  EXPECT_EQ(a.q.waiting(err), 1);
  a.q.enqueue(make_task("a1"), err);
  a.q.enqueue(make_task("a2"), err);
  auto firsts = a.q.claim("marie", 10, err);
  ASSERT_EQ(firsts.size(), 2u);
  a.q.complete(firsts[0], make_result(firsts[0].t), err);
  EXPECT_TRUE(a.q.claim("anga", 10, err).empty()) << "released before its second dependency";
  a.q.complete(firsts[1], make_result(firsts[1].t), err);
  auto b = a.q.claim("anga", 10, err);
  ASSERT_EQ(ids(b), std::vector<std::string>{"b"});
  EXPECT_EQ(b[0].doomed_by, "");
  EXPECT_EQ(a.q.waiting(err), 0);
}

TEST(redis_queue, a_failed_dependency_dooms_what_waits_and_what_comes_later) {
  redis_server s;
  node a{s, "orch-a"};
  std::string err;
  a.q.enqueue(make_task("b", "anga", {"a"}), err);
  a.q.enqueue(make_task("a"), err);
  auto first = a.q.claim("marie", 1, err);
  a.q.complete(first[0], make_result(first[0].t, status::failed), err);
  auto b = a.q.claim("anga", 10, err);
  ASSERT_EQ(ids(b), std::vector<std::string>{"b"});
  EXPECT_EQ(b[0].doomed_by, "a");
  EXPECT_EQ(a.q.enqueue(make_task("c", "anga", {"a"}), err), redis_queue::enqueued::queued);
  EXPECT_EQ(a.q.claim("anga", 10, err).at(0).doomed_by, "a");
}

TEST(redis_queue, a_waiting_task_can_end_unrun) {
  redis_server s;
  node a{s, "orch-a"};
  std::string err;
  auto t = make_task("b", "anga", {"never"});
  a.q.enqueue(t, err);
  claimed_task c;
  c.t = t; // no entry: it never ran
  EXPECT_EQ(a.q.complete(c, make_result(t, status::cancelled), err), true) << err;
  EXPECT_EQ(a.q.waiting(err), 0);
  EXPECT_EQ(a.q.find_result("b", err)->state, status::cancelled);
}

TEST(redis_queue, a_task_delivered_too_often_is_a_dead_letter) {
  redis_server s;
  node a{s, "orch-a", 0, /*max_deliveries=*/2};
  std::string err;
  a.q.enqueue(make_task("t1"), err);
  a.q.claim("marie", 1, err);                 // delivery 1
  auto second = a.q.take_over("marie", 1, err); // delivery 2
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].dead, "");
  auto third = a.q.take_over("marie", 1, err);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_NE(third[0].dead.find("delivered 3 times"), std::string::npos) << third[0].dead;
  EXPECT_EQ(a.q.counts("marie", err).dead, 1);
}

TEST(redis_queue, a_released_task_is_claimed_again) {
  redis_server s;
  node a{s, "orch-a"}, b{s, "orch-b"};
  std::string err;
  a.q.enqueue(make_task("t1"), err);
  auto held = a.q.claim("marie", 1, err);
  EXPECT_EQ(a.q.release(held[0]), "");
  EXPECT_EQ(ids(b.q.claim("marie", 1, err)), std::vector<std::string>{"t1"});
}

TEST(redis_queue, an_entry_that_does_not_decode_is_reported_not_run) {
  redis_server s;
  node a{s, "orch-a"};
  std::string err;
  a.client.command({"XADD", a.q.stream_key("marie", priority::medium), "*", "id", "x", "task",
                    "{not json"});
  std::vector<bad_entry> bad;
  EXPECT_TRUE(a.q.claim("marie", 10, err, &bad).empty());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].task_id, "x");
}

TEST(redis_queue, with_appendfsync_always_a_kill_9_loses_nothing) {
  redis_server s{{"--appendonly", "yes", "--appendfsync", "always"}};
  std::string err;
  {
    node a{s, "orch-a"};
    for (int i = 0; i < 100; ++i)
      ASSERT_EQ(a.q.enqueue(make_task("t" + std::to_string(i)), err),
                redis_queue::enqueued::queued) << err;
    auto held = a.q.claim("marie", 10, err);
    for (auto& c : held)
      a.q.complete(c, make_result(c.t), err);
  }
  s.restart(); // SIGKILL, then the same folder and port
  node b{s, "orch-b"};
  int results = 0;
  for (int i = 0; i < 10; ++i)
    results += b.q.find_result("t" + std::to_string(i), err).has_value();
  EXPECT_EQ(results, 10);
  EXPECT_EQ(b.q.counts("marie", err).queued, 90) << err;
}

TEST(redis_queue, the_shipped_config_persists_every_write_and_never_evicts) {
  redis_server s{{TROUPE_SOURCE_DIR "/config/redis.conf"}};
  redis_client c{url_of(s), std::chrono::milliseconds(2000)};
  ASSERT_TRUE(c.connected()) << c.error();
  auto get = [&](const char* name) {
    auto r = c.command({"CONFIG", "GET", name});
    return r.elements.size() == 2 ? r.elements[1].str : std::string{"?"};
  };
  EXPECT_EQ(get("appendonly"), "yes");
  EXPECT_EQ(get("appendfsync"), "everysec");
  EXPECT_EQ(get("maxmemory-policy"), "noeviction");
}

TEST(redis_queue, it_tells_who_holds_what_for_status) {
  redis_server s;
  node a{s, "orch-a"}, b{s, "orch-b"};
  std::string err;
  for (int i = 0; i < 3; ++i)
    a.q.enqueue(make_task("t" + std::to_string(i)), err);
  a.q.claim("marie", 2, err);
  b.q.claim("marie", 2, err);
  auto cs = a.q.consumers("marie", err);
  ASSERT_EQ(cs.size(), 2u) << err;
  EXPECT_EQ(cs[0].name, "orch-a");
  EXPECT_EQ(cs[0].pending, 2);
  EXPECT_EQ(cs[1].pending, 1);
  EXPECT_EQ(a.q.counts("marie", err).claimed, 3);
  EXPECT_EQ(a.q.results(err), 0);
}

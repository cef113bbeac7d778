// What a task that did not run ends as, for a dependency's sake.
#include "core/outcome.hpp"

#include <gtest/gtest.h>

using namespace troupe;

TEST(dependent_result, the_end_of_a_chain_names_its_root) {
  task a, b, c;
  a.task_id = "a";
  b.task_id = "b";
  c.task_id = "c";
  a.worker = b.worker = c.worker = "marie";
  result ra;
  ra.task_id = "a";
  ra.state = status::failed;
  ra.error = error_info{kind::auth, "no key"};
  auto rb = dependent_result(b, "a", ra);
  EXPECT_EQ(rb.error->message, "dependency \"a\" failed (auth: no key)");
  // c waits for b, across nodes or queues: still a's reason, not nested.
  auto rc = dependent_result(c, "b", rb);
  EXPECT_EQ(rc.state, status::failed);
  EXPECT_EQ(rc.error->kind, kind::dependency_failed);
  EXPECT_EQ(rc.error->message, rb.error->message);
  EXPECT_EQ(rc.task_id, "c");
  // Cancelled the same way: not run, naming the first that was cancelled.
  auto ca = cancelled_result(a, "by hand");
  auto cb = dependent_result(b, "a", ca);
  auto cc = dependent_result(c, "b", cb);
  EXPECT_EQ(cc.state, status::cancelled);
  EXPECT_EQ(cc.error->message, cb.error->message);
  EXPECT_NE(cb.error->message.find("\"a\" was cancelled"), std::string::npos)
    << cb.error->message;
}

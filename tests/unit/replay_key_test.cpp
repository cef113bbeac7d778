#include "core/replay_key.hpp"

#include <gtest/gtest.h>

using namespace troupe;

TEST(replay_key, the_same_work_in_another_run_has_the_same_key) {
  auto a = R"({"model":"m","metadata":{"user_id":"session_1"},"messages":[{"role":"user","content":)"
           R"("List /tmp/run-a/workspaces/marie/t1\n<system-reminder>\n12 tokens left\n</system-reminder>"}]})";
  // Keys in another order, another session, another root, another reminder.
  auto b = R"({"messages":[{"role":"user","content":"List /srv/b/workspaces/marie/t1\n<system-reminder>)"
           R"(\n11 tokens left\n</system-reminder>"}],"metadata":{"user_id":"session_2"},"model":"m"})";
  EXPECT_EQ(replay_text(a, {"/tmp/run-a"}), replay_text(b, {"/srv/b"}));
  EXPECT_EQ(replay_text(a, {"/tmp/run-a"}),
            R"({"messages":[{"content":"List <root>/workspaces/marie/t1\n","role":"user"}],"model":"m"})");
  EXPECT_EQ(replay_key("POST", "/v1/messages", a, {"/tmp/run-a"}),
            replay_key("POST", "/v1/messages", b, {"/srv/b"}));
}

TEST(replay_key, other_work_has_another_key) {
  auto a = R"({"model":"m","messages":[{"role":"user","content":"Evaluate Emma."}]})";
  auto b = R"({"model":"m","messages":[{"role":"user","content":"Evaluate Enzo."}]})";
  EXPECT_NE(replay_key("POST", "/v1/messages", a, {}), replay_key("POST", "/v1/messages", b, {}));
  EXPECT_NE(replay_key("POST", "/v1/messages", a, {}),
            replay_key("POST", "/v1/messages/count_tokens", a, {}));
  // Not JSON: taken as it is.
  EXPECT_EQ(replay_text("not json", {}), "not json");
  EXPECT_EQ(replay_key("POST", "/x", "a", {}).size(), 64u);
}

TEST(replay_key, a_root_inside_another_is_not_cut_in_two) {
  EXPECT_EQ(replay_text(R"({"p":"/r/inner/x /r/y"})", {"/r", "/r/inner"}),
            R"({"p":"<root>/x <root>/y"})");
}

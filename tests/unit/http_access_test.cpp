#include "core/http_access.hpp"

#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

using namespace troupe;

TEST(http_access, parses_listen_addresses) {
  std::string err;
  auto a = parse_listen_address("127.0.0.1:8080", err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto v6 = parse_listen_address("[::1]:0", err);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  for (auto bad : {"8080", ":8080", "host:", "host:65536", "host:-1", "host:80x"})
    EXPECT_FALSE(parse_listen_address(bad, err)) << bad;
}

TEST(http_access, only_loopback_is_open_without_a_token) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.8.9.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("1270.0.0.1x"));
}

TEST(http_access, bearer_tokens) {
  EXPECT_TRUE(bearer_allows("", ""));
  EXPECT_TRUE(bearer_allows("Bearer abc", "abc"));
  EXPECT_FALSE(bearer_allows("", "abc"));
  EXPECT_FALSE(bearer_allows("Bearer abd", "abc"));
  EXPECT_FALSE(bearer_allows("Bearer abcd", "abc"));
  EXPECT_FALSE(bearer_allows("Basic abc", "abc"));
  EXPECT_FALSE(bearer_allows("bearer abc", "abc"));
}

TEST(http_access, a_token_file_gives_its_first_line) {
  auto path = ::testing::TempDir() + "token-" + std::to_string(::getpid());
  std::ofstream{path} << "  s3cret \nignored\n";
  std::string err;
  EXPECT_EQ(read_token_file(path, err), "s3cret");
  std::ofstream{path} << "\n";
  EXPECT_EQ(read_token_file(path, err), "");
  EXPECT_FALSE(err.empty());
  EXPECT_EQ(read_token_file(path + ".missing", err), "");
  std::remove(path.c_str());
}

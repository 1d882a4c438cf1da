#include "gateway/http/net.h"

#include "gtest/gtest.h"

namespace tailgate {
namespace {

TEST(NetTest, ParsesIpv4AndBracketedIpv6) {
  auto a = ParseHostPort("127.0.0.1:0", "http_listen");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  auto b = ParseHostPort("[::1]:8080", "http_listen");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 8080);
  EXPECT_EQ(FormatHostPort("::1", 8080), "[::1]:8080");
  EXPECT_EQ(FormatHostPort("127.0.0.1", 1), "127.0.0.1:1");
}

TEST(NetTest, RejectsMalformedAddressesNamingTheFlag) {
  EXPECT_EQ(ParseHostPort("127.0.0.1", "grpc_listen").status().message(),
            "--grpc_listen=127.0.0.1: missing port (expected HOST:PORT or [IPV6]:PORT)");
  EXPECT_FALSE(ParseHostPort("::1:80", "x").ok());
  EXPECT_FALSE(ParseHostPort("[::1]80", "x").ok());
  EXPECT_FALSE(ParseHostPort("h:65536", "x").ok());
  EXPECT_FALSE(ParseHostPort("h:8a", "x").ok());
  EXPECT_FALSE(ParseHostPort(":80", "x").ok());
}

}  // namespace
}  // namespace tailgate

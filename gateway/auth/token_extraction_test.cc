#include "gateway/auth/token_extraction.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tailgate {
namespace {

using ::testing::HasSubstr;

TEST(ParseBearerTest, AcceptsBearerTokens) {
  EXPECT_EQ(*ParseBearer("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(*ParseBearer("bearer   abc "), "abc");
  EXPECT_EQ(*ParseBearer("BEARER a-b_c~d+e/f=="), "a-b_c~d+e/f==");
  for (const char* bad : {"", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearerabc", "Bearer a b",
                          "Bearer a\r\nX: y", "Bearer =abc", "Bearer a=b"}) {
    absl::StatusOr<std::string> t = ParseBearer(bad);
    EXPECT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kUnauthenticated);
  }
}

TEST(FindCookieTest, ParsesCookieHeaders) {
  EXPECT_EQ(FindCookie("tg=abc", "tg"), "abc");
  EXPECT_EQ(FindCookie("a=1; tg=abc; b=2", "tg"), "abc");
  EXPECT_EQ(FindCookie("a=1;tg=abc", "tg"), "abc");
  EXPECT_EQ(FindCookie("tg=\"abc\"", "tg"), "abc");
  EXPECT_EQ(FindCookie("tg=first; tg=second", "tg"), "first");
  EXPECT_EQ(FindCookie("xtg=1; tgx=2", "tg"), std::nullopt);
  EXPECT_EQ(FindCookie("a=tg=1", "tg"), std::nullopt);
  EXPECT_EQ(FindCookie("tg=a=b", "tg"), "a=b");
  EXPECT_EQ(FindCookie("", "tg"), std::nullopt);
  EXPECT_EQ(FindCookie("tg=1", ""), std::nullopt);
}

TEST(ExtractHttpTokenTest, SourcesInOrder) {
  TokenSources sources;
  sources.cookie_name = "tg_token";
  auto got = ExtractHttpToken("Bearer h.h.h", "tg_token=c.c.c", "/v1/events?access_token=q", sources);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->token, "h.h.h");
  EXPECT_EQ((*got)->source, TokenSource::kAuthorizationHeader);

  got = ExtractHttpToken("", "x=1; tg_token=c.c.c", "/v1/events?topic=a", sources);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->token, "c.c.c");
  EXPECT_EQ((*got)->source, TokenSource::kCookie);

  got = ExtractHttpToken("", "", "/v1/events?topic=a", sources);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());

  // A broken header is an error, not a reason to look elsewhere.
  got = ExtractHttpToken("Basic abc", "tg_token=c.c.c", "/", sources);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(ExtractHttpTokenTest, QueryParameterIsOptIn) {
  TokenSources sources;
  auto got = ExtractHttpToken("", "", "/v1/events?topic=a&access_token=q.q.q", sources);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("disabled"));

  sources.allow_query_param = true;
  got = ExtractHttpToken("", "", "/v1/events?topic=a&access_token=q.q.q", sources);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->token, "q.q.q");
  EXPECT_EQ((*got)->source, TokenSource::kQueryParam);

  got = ExtractHttpToken("", "", "/v1/events?access%5Ftoken=q%2Eq.q", sources);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->token, "q.q.q");

  EXPECT_FALSE(ExtractHttpToken("", "", "/?access_token=a&access_token=b", sources).ok());
  EXPECT_FALSE(ExtractHttpToken("", "", "/?access_token=", sources).ok());
  EXPECT_FALSE(ExtractHttpToken("", "", "/?access_token=%zz", sources).ok());
  got = ExtractHttpToken("", "", "/?xaccess_token=a", sources);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

// The query is read as gateway/http/query.h reads it for the SSE parameters:
// a malformed escape is kept literally there, and a '%' (or a space from
// '+') is outside the token68 syntax a token must have, header or query.
TEST(ExtractHttpTokenTest, QueryTokenIsToken68AfterTheSharedDecoding) {
  TokenSources sources;
  sources.allow_query_param = true;
  for (const char* target : {"/?access_token=%zz", "/?access_token=a%2", "/?access_token=a+b",
                             "/?access_token=a%20b", "/?access_token==a"}) {
    SCOPED_TRACE(target);
    auto got = ExtractHttpToken("", "", target, sources);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("token68"));
  }
  auto got = ExtractHttpToken("", "", "/?access_token=a-b_c~d%2Be/f%3D%3D", sources);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->token, "a-b_c~d+e/f==");
  // A malformed escape in another parameter's name never hides one.
  got = ExtractHttpToken("", "", "/?access_token%zz=a&access_token=b", sources);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->token, "b");
}

TEST(ExtractGrpcTokenTest, ReadsAuthorizationMetadata) {
  std::multimap<std::string, std::string> md;
  auto got = ExtractGrpcToken(md);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  md.emplace("authorization", "Bearer a.b.c");
  got = ExtractGrpcToken(md);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, "a.b.c");
  md.emplace("authorization", "Bearer d.e.f");
  EXPECT_EQ(ExtractGrpcToken(md).status().code(), absl::StatusCode::kUnauthenticated);
  md.clear();
  md.emplace("authorization", "Basic xyz");
  EXPECT_EQ(ExtractGrpcToken(md).status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace tailgate

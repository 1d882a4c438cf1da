#include "gateway/http/query.h"

#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace tailgate {
namespace {

using Pair = std::pair<std::string, std::string>;

TEST(QueryTest, QueryIsTheTextAfterTheFirstQuestionMark) {
  EXPECT_EQ(QueryOf("/v1/events?topic=a&b=?c"), "topic=a&b=?c");
  EXPECT_EQ(QueryOf("/v1/events"), "");
  EXPECT_EQ(QueryOf("/?"), "");
  EXPECT_EQ(QueryOf("/?a=1#frag"), "a=1#frag");  // a fragment is query text
}

TEST(QueryTest, PlusAndEscapesDecodeInNamesAndValues) {
  EXPECT_EQ(UrlDecode("a+b%2Ac%2a%41"), "a b*c*A");
  EXPECT_EQ(ParseQuery("access%5Ftoken=a%2Bb+c"), (std::vector<Pair>{{"access_token", "a+b c"}}));
}

// The one rule for malformed escapes: kept literally, never an error, for
// every reader (SSE parameters, token extraction, log redaction).
TEST(QueryTest, MalformedEscapesAreKeptLiterally) {
  EXPECT_EQ(UrlDecode("%zz"), "%zz");
  EXPECT_EQ(UrlDecode("%"), "%");
  EXPECT_EQ(UrlDecode("%4"), "%4");
  EXPECT_EQ(UrlDecode("a%4g%41"), "a%4gA");
  EXPECT_EQ(UrlDecode("%%41"), "%A");
  EXPECT_EQ(ParseQuery("bad=%zz&x%=%"), (std::vector<Pair>{{"bad", "%zz"}, {"x%", "%"}}));
}

TEST(QueryTest, ParseQuerySplitsOnAmpersandOnlyAndSkipsEmptyPieces) {
  EXPECT_EQ(ParseQuery("topic=a;b&&flag&=v&last=1=2&"),
            (std::vector<Pair>{{"topic", "a;b"}, {"flag", ""}, {"", "v"}, {"last", "1=2"}}));
  EXPECT_TRUE(ParseQuery("").empty());
}

TEST(QueryTest, SplitQueryKeepsEveryPieceRaw) {
  const std::vector<RawQueryParam> p = SplitQuery("a=%41&&b&=");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].name, "a");
  EXPECT_EQ(p[0].value, "%41");
  EXPECT_TRUE(p[0].has_value);
  EXPECT_EQ(p[1].name, "");
  EXPECT_FALSE(p[1].has_value);
  EXPECT_EQ(p[2].name, "b");
  EXPECT_FALSE(p[2].has_value);
  EXPECT_EQ(p[3].name, "");
  EXPECT_TRUE(p[3].has_value);
  EXPECT_EQ(SplitQuery("").size(), 1u);  // one empty piece: "" rebuilds to ""
}

}  // namespace
}  // namespace tailgate

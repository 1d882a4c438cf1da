#include "store/topic.h"

#include <string>

#include "gtest/gtest.h"

namespace tailgate::store {
namespace {

TEST(TopicTest, AcceptsDesignExamples) {
  for (const char* t : {"orders", "orders.eu.42", "a_b:c-d.E9", "x.y.z.w"}) {
    EXPECT_TRUE(ValidateTopic(t).ok()) << t;
  }
  EXPECT_TRUE(ValidateTopic(std::string(255, 'a')).ok());
}

struct BadCase {
  std::string input;
  std::string message;
};

TEST(TopicTest, RejectsEachRuleWithPreciseMessage) {
  const BadCase cases[] = {
      {"", "topic: topic must not be empty"},
      {std::string(256, 'a'), "topic: topic is 256 bytes; the limit is 255"},
      {".a", "topic: topic has an empty token at byte 0 (tokens are separated by single dots)"},
      {"a..b", "topic: topic has an empty token at byte 2 (tokens are separated by single dots)"},
      {"a.", "topic: topic has an empty token at byte 2 (tokens are separated by single dots)"},
      {"a b", "topic: topic has invalid byte 0x20 at byte 1 (allowed: A-Z a-z 0-9 _ : - and '.' "
              "between tokens)"},
      {"a.*", "topic: topic has invalid '*' at byte 2 (wildcards are for subscriptions, not "
              "topics)"},
      {"a\nb", "topic: topic has invalid byte 0x0a at byte 1 (allowed: A-Z a-z 0-9 _ : - and "
               "'.' between tokens)"},
  };
  for (const BadCase& c : cases) {
    absl::Status s = ValidateTopic(c.input);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.input;
    EXPECT_EQ(s.message(), c.message);
  }
}

TEST(TopicTest, TypeNeverAcceptsLineBreaksOrNul) {
  EXPECT_TRUE(ValidateType("").ok());
  EXPECT_TRUE(ValidateType("order.created:v2-x_y").ok());
  EXPECT_EQ(ValidateType(std::string(65, 't')).message(), "type: type is 65 bytes; the limit is 64");
  EXPECT_EQ(ValidateType("a\nb").message(),
            "type: type has invalid byte 0x0a at byte 1 (allowed: A-Z a-z 0-9 _ . : -)");
  EXPECT_EQ(ValidateType("a\rb").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateType(std::string("a\0b", 3)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateType("tailgate.reset").message(),
            "type: type prefix \"tailgate.\" is reserved for the gateway's own events");
  EXPECT_TRUE(ValidateType("tailgate").ok());
  EXPECT_TRUE(ValidateType("my.tailgate.x").ok());
  EXPECT_EQ(ValidateType("a b", "events[2].type").message(),
            "events[2].type: type has invalid byte 0x20 at byte 1 (allowed: A-Z a-z 0-9 _ . : -)");
}

TEST(TopicTest, TypesThatEventSourceDispatchesToItsOwnHandlersAreRejected) {
  EXPECT_EQ(ValidateType("error").message(),
            "type: type \"error\" is reserved: browsers deliver it to EventSource's onerror handler");
  EXPECT_EQ(ValidateType("open", "events[1].type").message(),
            "events[1].type: type \"open\" is reserved: browsers deliver it to EventSource's onopen "
            "handler");
  EXPECT_EQ(ValidateType("open").code(), absl::StatusCode::kInvalidArgument);
  // Only the exact names reach those handlers.
  EXPECT_TRUE(ValidateType("Error").ok());
  EXPECT_TRUE(ValidateType("errors").ok());
  EXPECT_TRUE(ValidateType("opened").ok());
  EXPECT_TRUE(ValidateType("message").ok());
}

TEST(TopicTest, DataMustBeUtf8AndBounded) {
  EXPECT_TRUE(ValidateData("", 10).ok());
  EXPECT_TRUE(ValidateData("line1\nline2\r\n\u00e9\u4e2d\U0001F600", 100).ok());
  EXPECT_EQ(ValidateData("12345678901", 10).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ValidateData("12345678901", 10).message(), "data: data is 11 bytes; the limit is 10");
  EXPECT_EQ(ValidateData("\xff", 10).message(), "data: data is not valid UTF-8");
  EXPECT_FALSE(ValidateData("\xc0\x80", 10).ok());          // overlong NUL
  EXPECT_FALSE(ValidateData("\xed\xa0\x80", 10).ok());      // surrogate
  EXPECT_FALSE(ValidateData("\xf4\x90\x80\x80", 10).ok());  // > U+10FFFF
  EXPECT_FALSE(ValidateData("\xe4\xb8", 10).ok());          // truncated
  EXPECT_FALSE(ValidateData(std::string("a\0b", 3), 10).ok());
}

TEST(TopicTest, Utf8CheckFindsBadBytesAtEveryOffset) {
  // The ASCII fast path reads eight bytes at a time: a bad or multi-byte
  // sequence must be judged the same wherever it falls in a word.
  for (size_t before = 0; before < 20; ++before) {
    for (size_t after = 0; after < 10; ++after) {
      const std::string pad_a(before, 'a'), pad_b(after, 'b');
      EXPECT_TRUE(IsValidUtf8(pad_a + "\u00e9" + pad_b)) << before << "," << after;
      EXPECT_TRUE(IsValidUtf8(pad_a + "\U0001F600" + pad_b)) << before << "," << after;
      EXPECT_FALSE(IsValidUtf8(pad_a + "\xff" + pad_b)) << before << "," << after;
      EXPECT_FALSE(IsValidUtf8(pad_a + "\xe4\xb8")) << before;  // truncated at the end
      EXPECT_FALSE(IsValidUtf8(pad_a + "\xed\xa0\x80" + pad_b)) << before << "," << after;
    }
  }
}

TEST(TopicTest, IdempotencyKeyIsPrintableAscii) {
  EXPECT_TRUE(ValidateIdempotencyKey("").ok());
  EXPECT_TRUE(ValidateIdempotencyKey("req-42/abc").ok());
  EXPECT_FALSE(ValidateIdempotencyKey("a b").ok());
  EXPECT_FALSE(ValidateIdempotencyKey(std::string(129, 'k')).ok());
}

TEST(TopicPatternTest, StarMatchesExactlyOneToken) {
  auto p = TopicPattern::Parse("orders.*.new");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->Matches("orders.eu.new"));
  EXPECT_FALSE(p->Matches("orders.new"));
  EXPECT_FALSE(p->Matches("orders.eu.x.new"));
  EXPECT_FALSE(p->Matches("orders.eu.new.x"));
  EXPECT_FALSE(p->IsExact());
  EXPECT_EQ(p->LiteralPrefix(), "orders.");
}

TEST(TopicPatternTest, GreaterMatchesOneOrMoreTrailingTokens) {
  auto p = TopicPattern::Parse("orders.>");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->Matches("orders.eu"));
  EXPECT_TRUE(p->Matches("orders.eu.42.x"));
  EXPECT_FALSE(p->Matches("orders"));
  EXPECT_FALSE(p->Matches("ordersx.eu"));
  auto all = TopicPattern::Parse(">");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Matches("a"));
  EXPECT_TRUE(all->Matches("a.b.c"));
  EXPECT_EQ(all->LiteralPrefix(), "");
}

TEST(TopicPatternTest, ExactPatternMatchesOnlyItself) {
  auto p = TopicPattern::Parse("orders.eu");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->IsExact());
  EXPECT_TRUE(p->Matches("orders.eu"));
  EXPECT_FALSE(p->Matches("orders.eu.1"));
  EXPECT_FALSE(p->Matches("orders"));
  EXPECT_EQ(p->LiteralPrefix(), "orders.eu");
}

TEST(TopicPatternTest, RejectsMalformedPatterns) {
  EXPECT_EQ(TopicPattern::Parse("a.>.b").status().message(),
            "topic: pattern: '>' is allowed only as the last token");
  EXPECT_EQ(TopicPattern::Parse("a.b*").status().message(),
            "topic: pattern has invalid '*' at byte 3 (a wildcard must be a whole token)");
  EXPECT_FALSE(TopicPattern::Parse("").ok());
  EXPECT_FALSE(TopicPattern::Parse("a..>").ok());
}

TEST(TopicFilterTest, NamesTheBadPatternByIndex) {
  auto f = TopicFilter::Parse({"a.b", "c.>", "d..e"});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(),
            "topic[2]: pattern has an empty token at byte 2 (tokens are separated by single dots)");
  auto g = TopicFilter::Parse({"a.b", "c.>"});
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->Matches("a.b"));
  EXPECT_TRUE(g->Matches("c.d"));
  EXPECT_FALSE(g->Matches("a.c"));
}

}  // namespace
}  // namespace tailgate::store

#include "gateway/core/resume.h"

#include <gtest/gtest.h>

namespace tailgate {
namespace {

TEST(ResumeTest, EventIdsAreDecimalOnly) {
  EXPECT_EQ(*ParseEventId(" 12 ", "f"), 12u);
  EXPECT_EQ(*ParseEventId("18446744073709551615", "f"), 18446744073709551615u);
  EXPECT_FALSE(ParseEventId("18446744073709551616", "f").ok());
  EXPECT_FALSE(ParseEventId("-1", "f").ok());
  EXPECT_FALSE(ParseEventId("0x10", "f").ok());
  EXPECT_FALSE(ParseEventId("", "f").ok());
  EXPECT_NE(ParseEventId("abc", "Last-Event-ID").status().message().find("Last-Event-ID"),
            std::string::npos);
}

TEST(ResumeTest, SinceIsEarliestOrRfc3339) {
  EXPECT_EQ(ParseSince("earliest", "since")->kind, ResumeSpec::Kind::kEarliest);
  auto t = ParseSince("2024-05-01T12:00:00Z", "since");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, ResumeSpec::Kind::kTime);
  EXPECT_EQ(absl::ToUnixSeconds(t->time), 1714564800);
  EXPECT_TRUE(ParseSince("2024-05-01T12:00:00.5+02:00", "since").ok());
  EXPECT_FALSE(ParseSince("yesterday", "since").ok());
}

TEST(ResumeTest, LastIsOneToMax) {
  EXPECT_EQ(*ParseLast("1", "last"), 1u);
  EXPECT_EQ(*ParseLast("1000", "last"), kMaxLast);
  EXPECT_FALSE(ParseLast("0", "last").ok());
  EXPECT_FALSE(ParseLast("1001", "last").ok());
  EXPECT_EQ(ParseLast("x", "last").status().message().rfind("last:", 0), 0u);
}

TEST(ResumeTest, ResetAndLiveDataAreJson) {
  EXPECT_EQ(ResetJson(Reset{Reset::Reason::kUnknownId, 9, 3}),
            "{\"reason\":\"unknown_id\",\"requested\":9,\"resume\":3}");
  EXPECT_EQ(LiveJson(12), "{\"id\":12}");
}

}  // namespace
}  // namespace tailgate

#include "gateway/sse/codec.h"

#include <gtest/gtest.h>

namespace tailgate {
namespace {

TEST(SseCodecTest, FrameHasIdTypeAndOneDataLinePerLine) {
  EXPECT_EQ(EncodeSseFrame(7, "order.created", "a\nb\r\nc\rd"),
            "id: 7\nevent: order.created\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
}

TEST(SseCodecTest, EmptyTypeOmitsEventLineAndEmptyDataStillDispatches) {
  EXPECT_EQ(EncodeSseFrame(1, "", ""), "id: 1\ndata: \n\n");
}

TEST(SseCodecTest, TrailingNewlineBecomesEmptyLastLine) {
  EXPECT_EQ(EncodeSseFrame(2, "", "x\n"), "id: 2\ndata: x\ndata: \n\n");
  EXPECT_EQ(EncodeSseFrame(2, "", "\r\n\r\n"), "id: 2\ndata: \ndata: \ndata: \n\n");
}

TEST(SseCodecTest, ResetFrameCarriesResumeIdAndJson) {
  Reset r{Reset::Reason::kTrimmed, 5, 42};
  EXPECT_EQ(EncodeResetFrame(r),
            "id: 42\nevent: tailgate.reset\ndata: "
            "{\"reason\":\"trimmed\",\"requested\":5,\"resume\":42}\n\n");
}

TEST(SseCodecTest, QueryIsSplitAndDecoded) {
  auto q = ParseQuery("topic=orders.%2A&topic=a+b&&lastEventId=12&flag&bad=%zz");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>("topic", "orders.*")));
  EXPECT_EQ(q[1].second, "a b");
  EXPECT_EQ(q[2].second, "12");
  EXPECT_EQ(q[3], (std::pair<std::string, std::string>("flag", "")));
  EXPECT_EQ(q[4].second, "%zz");
}

TEST(SseCodecTest, EventIdsAreDecimalOnly) {
  EXPECT_EQ(*ParseEventId(" 12 ", "f"), 12u);
  EXPECT_EQ(*ParseEventId("18446744073709551615", "f"), 18446744073709551615u);
  EXPECT_FALSE(ParseEventId("18446744073709551616", "f").ok());
  EXPECT_FALSE(ParseEventId("-1", "f").ok());
  EXPECT_FALSE(ParseEventId("0x10", "f").ok());
  EXPECT_FALSE(ParseEventId("", "f").ok());
  EXPECT_NE(ParseEventId("abc", "Last-Event-ID").status().message().find("Last-Event-ID"),
            std::string::npos);
}

TEST(SseCodecTest, SinceIsEarliestOrRfc3339) {
  EXPECT_EQ(ParseSince("earliest", "since")->kind, ResumeSpec::Kind::kEarliest);
  auto t = ParseSince("2024-05-01T12:00:00Z", "since");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, ResumeSpec::Kind::kTime);
  EXPECT_EQ(absl::ToUnixSeconds(t->time), 1714564800);
  EXPECT_TRUE(ParseSince("2024-05-01T12:00:00.5+02:00", "since").ok());
  EXPECT_FALSE(ParseSince("yesterday", "since").ok());
}

}  // namespace
}  // namespace tailgate

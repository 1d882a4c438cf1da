#include "gateway/sse/codec.h"

#include <gtest/gtest.h>

#include "gateway/http/query.h"

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

}  // namespace
}  // namespace tailgate

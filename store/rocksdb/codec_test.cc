#include "store/rocksdb/codec.h"

#include <limits>

#include "gtest/gtest.h"

namespace tailgate::store::internal {
namespace {

TEST(CodecTest, EventKeysSortByTopicThenNumericId) {
  EXPECT_LT(EventKey("a", 2), EventKey("a", 256));
  EXPECT_LT(EventKey("a", std::numeric_limits<uint64_t>::max()), EventKey("a.b", 0));
  EXPECT_LT(EventKey("a", 5), EventKeyLimit("a"));
  EXPECT_LT(EventKeyLimit("a"), EventKey("a.b", 0));
  std::string_view topic;
  uint64_t id = 0;
  std::string key = EventKey("orders.eu", 0x0102030405060708);
  ASSERT_TRUE(ParseEventKey(key, &topic, &id));
  EXPECT_EQ(topic, "orders.eu");
  EXPECT_EQ(id, 0x0102030405060708u);
  EXPECT_FALSE(ParseEventKey("short", &topic, &id));
}

TEST(CodecTest, TimeKeysOrderNegativeBeforePositive) {
  EXPECT_LT(TimeKey(-5, 9), TimeKey(0, 1));
  EXPECT_LT(TimeKey(0, 1), TimeKey(0, 2));
  EXPECT_LT(TimeKey(0, 99), TimeKey(1, 0));
  int64_t micros = 0;
  uint64_t id = 0;
  ASSERT_TRUE(ParseTimeKey(TimeKey(-123, 7), &micros, &id));
  EXPECT_EQ(micros, -123);
  EXPECT_EQ(id, 7u);
}

TEST(CodecTest, ValuesRoundTripAndRejectGarbage) {
  std::string v;
  EncodeEventValue(&v, 42, "created", std::string("a\0b\nc", 5));
  EventValue ev;
  ASSERT_TRUE(DecodeEventValue(v, &ev));
  EXPECT_EQ(ev.publish_micros, 42);
  EXPECT_EQ(ev.type, "created");
  EXPECT_EQ(ev.data, std::string_view("a\0b\nc", 5));
  EXPECT_FALSE(DecodeEventValue("\x02zzzzzzzzzz", &ev));
  EXPECT_FALSE(DecodeEventValue("", &ev));

  EncodeIdValue(&v, "topic", 300, -1);
  IdValue iv;
  ASSERT_TRUE(DecodeIdValue(v, &iv));
  EXPECT_EQ(iv.topic, "topic");
  EXPECT_EQ(iv.data_bytes, 300u);
  EXPECT_EQ(iv.publish_micros, -1);
  EXPECT_FALSE(DecodeIdValue(v.substr(0, 4), &iv));

  TopicMeta m{1, 2, 3, 4, 5, true};
  TopicMeta out;
  ASSERT_TRUE(DecodeTopicMeta(EncodeTopicMeta(m), &out));
  EXPECT_EQ(out.first_id, 1u);
  EXPECT_EQ(out.trimmed_through, 5u);
  EXPECT_TRUE(out.deleted);
  EXPECT_FALSE(DecodeTopicMeta(EncodeTopicMeta(m) + "x", &out));

  DedupValue d;
  ASSERT_TRUE(DecodeDedupValue(EncodeDedupValue({9, 10}), &d));
  EXPECT_EQ(d.id, 9u);
  EXPECT_EQ(d.seen_micros, 10);
}

}  // namespace
}  // namespace tailgate::store::internal

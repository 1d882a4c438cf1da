#include "gateway/sse/frame.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tailgate {
namespace {

store::Event MakeEvent(std::string topic, std::string type, std::string data) {
  store::Event e;
  e.id = 42;
  e.topic = std::move(topic);
  e.type = std::move(type);
  e.data = std::move(data);
  e.publish_time = absl::FromCivil(absl::CivilSecond(2026, 12, 3, 10, 45, 12), absl::UTCTimeZone()) +
                   absl::Microseconds(123456);
  return e;
}

std::string Gather(const SseEvent& e, bool with_meta) {
  std::vector<std::string> parts;
  e.AppendFrame(&parts, [](const char* p, size_t n) { return std::string(p, n); }, with_meta);
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

TEST(SseFrameTest, FramesWithAndWithoutMeta) {
  EncodedEventPtr p = SseEventEncoder().Encode(MakeEvent("a.b", "kind", "hello"));
  const SseEvent& e = AsSse(*p);
  EXPECT_EQ(Gather(e, false), "id: 42\nevent: kind\ndata: hello\n\n");
  EXPECT_EQ(e.FrameBytes(false), Gather(e, false).size());
  const std::string with = "id: 42\nevent: kind\ntopic: a.b\ntime: 2026-12-03T10:45:12.123456Z\n"
                           "data: hello\n\n";
  EXPECT_EQ(Gather(e, true), with);
  EXPECT_EQ(e.FrameBytes(true), with.size());
  EXPECT_EQ(e.Frame(true), with);
  EXPECT_EQ(e.Frame(false), "id: 42\nevent: kind\ndata: hello\n\n");
}

TEST(SseFrameTest, MultiLineDataWithMeta) {
  EncodedEventPtr p = SseEventEncoder().Encode(MakeEvent("t", "", "a\nb"));
  const SseEvent& e = AsSse(*p);
  EXPECT_EQ(Gather(e, true),
            "id: 42\ntopic: t\ntime: 2026-12-03T10:45:12.123456Z\ndata: a\ndata: b\n\n");
}

// The hub's cache adds an event's size when it arrives and subtracts it when
// it leaves: building the meta lines in between must not change it.
TEST(SseFrameTest, MemoryBytesDoesNotChangeWhenMetaIsBuilt) {
  EncodedEventPtr p = SseEventEncoder().Encode(MakeEvent("some.topic", "", "x"));
  const size_t before = p->MemoryBytes();
  (void)AsSse(*p).meta();
  EXPECT_EQ(p->MemoryBytes(), before);
}

// Subscribers on several event-loop threads may ask for the meta lines of
// the same shared event at once: one is built, all see it.
TEST(SseFrameTest, MetaBuiltOnceAcrossThreads) {
  EncodedEventPtr p = SseEventEncoder().Encode(MakeEvent("a", "", "x"));
  const SseEvent& e = AsSse(*p);
  std::vector<const std::string*> seen(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&e, &seen, i] { seen[i] = &e.meta(); });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string* s : seen) {
    EXPECT_EQ(s, seen[0]);
    EXPECT_EQ(*s, "topic: a\ntime: 2026-12-03T10:45:12.123456Z\n");
  }
}

}  // namespace
}  // namespace tailgate

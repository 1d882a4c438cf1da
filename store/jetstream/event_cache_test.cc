#include "store/jetstream/event_cache.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tailgate::store::internal {
namespace {

TopicFilter F(const std::vector<std::string>& patterns) { return *TopicFilter::Parse(patterns); }

Event E(uint64_t id, std::string topic, std::string data = "d") {
  Event e;
  e.id = id;
  e.topic = std::move(topic);
  e.type = "t";
  e.data = std::move(data);
  return e;
}

std::vector<uint64_t> Ids(const std::vector<Event>& events) {
  std::vector<uint64_t> ids;
  for (const Event& e : events) ids.push_back(e.id);
  return ids;
}

// What a read returns by definition (no skip limit): the matching events in
// (after_id, bound], cut by max_events / max_bytes.
ReadResult BruteForce(const std::vector<Event>& all, const ReadRequest& req, uint64_t bound) {
  ReadResult r;
  r.next_after_id = req.after_id;
  const size_t max_events = std::max<size_t>(1, req.max_events);
  size_t bytes = 0;
  for (const Event& e : all) {
    if (e.id <= req.after_id || e.id > bound || !req.filter.Matches(e.topic)) continue;
    const size_t size = e.data.size() + e.topic.size();
    if (r.events.size() >= max_events || (!r.events.empty() && bytes + size > req.max_bytes)) {
      r.next_after_id = r.events.back().id;
      return r;
    }
    bytes += size;
    r.events.push_back(e);
  }
  r.reached_end = true;
  r.next_after_id = std::max(req.after_id, bound);
  return r;
}

TEST(EventCacheTest, CoversOnlyWhatItWasFed) {
  EventCache cache(1 << 20);
  cache.Reset(10);
  ReadRequest req;
  req.filter = F({">"});
  req.after_id = 9;
  EXPECT_FALSE(cache.Read(req, 10, 100).has_value());  // below the copy
  req.after_id = 10;
  EXPECT_FALSE(cache.Read(req, 11, 100).has_value());  // above it
  std::vector<Event> v = {E(11, "a"), E(13, "b")};   // 12 was removed
  cache.Append(v, 13);
  std::optional<ReadResult> r = cache.Read(req, 13, 100);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(Ids(r->events), (std::vector<uint64_t>{11, 13}));
  EXPECT_TRUE(r->reached_end);
  EXPECT_EQ(r->next_after_id, 13u);
  EXPECT_FALSE(r->trimmed);
  // Bound below the copy's end.
  r = cache.Read(req, 12, 100);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(Ids(r->events), (std::vector<uint64_t>{11}));
  EXPECT_EQ(r->next_after_id, 12u);
  // At the bound already.
  req.after_id = 13;
  r = cache.Read(req, 13, 100);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->events.empty());
  EXPECT_TRUE(r->reached_end);
  EXPECT_EQ(r->next_after_id, 13u);
}

TEST(EventCacheTest, OutOfOrderFeedResets) {
  EventCache cache(1 << 20);
  cache.Reset(0);
  std::vector<Event> v = {E(1, "a"), E(2, "a")};
  cache.Append(v, 2);
  std::vector<Event> back = {E(2, "a")};
  cache.Append(back, 2);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.covered_from(), 2u);
  EXPECT_EQ(cache.covered_to(), 2u);
}

TEST(EventCacheTest, DisabledNeverServes) {
  EventCache cache(0);
  cache.Reset(0);
  std::vector<Event> v = {E(1, "a")};
  cache.Append(v, 1);
  ReadRequest req;
  req.filter = F({">"});
  EXPECT_FALSE(cache.Read(req, 1, 100).has_value());
}

// The cache covers reads from `from` up to `bound` and no earlier: a read of
// `topic` after from - 1 misses, one after `from` is served (returned).
ReadResult ReadAtCoverageEdge(const EventCache& cache, const std::string& topic, uint64_t from,
                              uint64_t bound) {
  ReadRequest req;
  req.filter = F({topic});
  req.after_id = from - 1;
  EXPECT_FALSE(cache.Read(req, bound, 100).has_value());
  req.after_id = from;
  std::optional<ReadResult> r = cache.Read(req, bound, 100);
  EXPECT_TRUE(r.has_value());
  return r.value_or(ReadResult{});
}

TEST(EventCacheTest, EvictsOldestAndStopsCoveringThem) {
  const size_t one = EventCache::Cost(E(1, "a", std::string(100, 'x')));
  EventCache cache(one * 10);
  cache.Reset(0);
  for (uint64_t id = 1; id <= 25; ++id) {
    std::vector<Event> v = {E(id, "a", std::string(100, 'x'))};
    cache.Append(v, id);
  }
  EXPECT_EQ(cache.size(), 10u);
  EXPECT_EQ(cache.covered_from(), 15u);
  const ReadResult r = ReadAtCoverageEdge(cache, "a", 15, 25);
  EXPECT_EQ(r.events.size(), 10u);
  EXPECT_EQ(r.events.front().id, 16u);
}

// The load at open: history below what the tail delivered, prepended; it
// must be contiguous with the covered range, and only the newest part that
// fits beside the tail's events is kept.
TEST(EventCacheTest, PrependExtendsCoverageDownwards) {
  const std::string data(100, 'x');
  const size_t one = EventCache::Cost(E(1, "a", data));
  EventCache cache(one * 10);
  cache.Reset(20);
  std::vector<Event> tail = {E(21, "a", data), E(23, "b", data)};
  cache.Append(tail, 23);
  // Not contiguous with covered_from (20): ignored.
  EXPECT_EQ(cache.Prepend({E(5, "a", data)}, 4, 19), 0u);
  // Not ascending inside (from, through]: ignored.
  EXPECT_EQ(cache.Prepend({E(12, "a", data), E(11, "a", data)}, 10, 20), 0u);
  EXPECT_EQ(cache.Prepend({E(21, "a", data)}, 10, 20), 0u);
  EXPECT_EQ(cache.covered_from(), 20u);
  // Events 3, 5, 7, ..., 19 in (2, 20]: 9 events, room for 8 beside the
  // tail's 2: the oldest (3) is dropped, coverage starts above it.
  std::vector<Event> history;
  for (uint64_t id = 3; id <= 19; id += 2) history.push_back(E(id, id % 4 == 1 ? "a" : "b", data));
  EXPECT_EQ(cache.Prepend(history, 2, 20), 8u);
  EXPECT_EQ(cache.covered_from(), 3u);
  EXPECT_EQ(cache.size(), 10u);
  const ReadResult r = ReadAtCoverageEdge(cache, "a", 3, 23);
  EXPECT_EQ(Ids(r.events), (std::vector<uint64_t>{5, 9, 13, 17, 21}));
  EXPECT_TRUE(r.reached_end);
  ReadRequest req;
  req.filter = F({"a"});
  // Once loaded, the range is no longer contiguous with a second load.
  EXPECT_EQ(cache.Prepend({E(2, "a", data)}, 1, 20), 0u);
  // Everything fits: coverage reaches `from`.
  EventCache roomy(one * 100);
  roomy.Reset(10);
  EXPECT_EQ(roomy.Prepend({E(4, "a", data), E(9, "a", data)}, 0, 10), 2u);
  EXPECT_EQ(roomy.covered_from(), 0u);
  req.after_id = 0;
  std::optional<ReadResult> all = roomy.Read(req, 10, 100);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(Ids(all->events), (std::vector<uint64_t>{4, 9}));
}

// Random feeds, filters and limits over many topics: paging through the
// cache with every read returns exactly what brute force finds, and each
// single read returns a prefix of brute force's answer with a consistent
// cursor.
TEST(EventCacheTest, MatchesBruteForceAcrossManyTopics) {
  std::mt19937_64 rng(19);
  for (int round = 0; round < 20; ++round) {
    EventCache cache(size_t{64} << 20);
    const uint64_t base = rng() % 1000;
    cache.Reset(base);
    std::vector<Event> all;
    uint64_t id = base;
    for (int batch = 0; batch < 50; ++batch) {
      std::vector<Event> v;
      const int n = 1 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n; ++i) {
        id += 1 + (rng() % 5 == 0 ? rng() % 3 : 0);  // gaps: removed or foreign sequences
        v.push_back(E(id, absl::StrCat("t", rng() % 3, ".", rng() % 100),
                      std::string(rng() % 50, 'x')));
      }
      const uint64_t through = id + (rng() % 4 == 0 ? 2 : 0);
      cache.Append(v, through);
      all.insert(all.end(), v.begin(), v.end());
      id = through;
    }
    const std::vector<std::vector<std::string>> filters = {
        {">"}, {"t1.*"}, {"t0.42"}, {"t2.7", "t0.*"}, {"t0.1", "t0.2", "t1.3", "t1.4", "t2.5"},
        {"nothing"}};
    for (const auto& patterns : filters) {
      for (int q = 0; q < 20; ++q) {
        ReadRequest req;
        req.filter = F(patterns);
        req.after_id = base + rng() % (id - base + 1);
        const uint64_t bound = req.after_id + rng() % (id - req.after_id + 1);
        req.max_events = 1 + rng() % 200;
        req.max_bytes = rng() % 2 == 0 ? (1 << 20) : 1 + rng() % 2000;
        const size_t max_skipped = rng() % 2 == 0 ? (1 << 16) : 1 + rng() % 100;
        // One read: a prefix of the true answer.
        std::optional<ReadResult> one = cache.Read(req, bound, max_skipped);
        ASSERT_TRUE(one.has_value());
        const ReadResult want = BruteForce(all, req, bound);
        ASSERT_LE(one->events.size(), want.events.size());
        for (size_t i = 0; i < one->events.size(); ++i) {
          EXPECT_EQ(one->events[i].id, want.events[i].id);
          EXPECT_EQ(one->events[i].data, want.events[i].data);
        }
        if (max_skipped == (1 << 16)) {
          EXPECT_EQ(Ids(one->events), Ids(want.events));
          EXPECT_EQ(one->reached_end, want.reached_end);
          EXPECT_EQ(one->next_after_id, want.next_after_id);
        }
        if (one->reached_end) {
          EXPECT_EQ(Ids(one->events), Ids(want.events));
          EXPECT_EQ(one->next_after_id, bound);
        }
        EXPECT_GE(one->next_after_id, req.after_id);
        EXPECT_LE(one->next_after_id, bound);
        if (!one->events.empty()) {
          EXPECT_GE(one->next_after_id, one->events.back().id);
        }
        // Paging to the end: everything, once, in order.
        std::vector<Event> got;
        ReadRequest page = req;
        for (int guard = 0; guard < 100000; ++guard) {
          std::optional<ReadResult> r = cache.Read(page, bound, max_skipped);
          ASSERT_TRUE(r.has_value());
          got.insert(got.end(), r->events.begin(), r->events.end());
          if (r->reached_end) break;
          ASSERT_TRUE(!r->events.empty() || r->next_after_id > page.after_id);
          page.after_id = r->next_after_id;
        }
        ReadRequest everything = req;
        everything.max_events = 1 << 30;
        everything.max_bytes = size_t{1} << 40;
        EXPECT_EQ(Ids(got), Ids(BruteForce(all, everything, bound).events));
      }
    }
  }
}

}  // namespace
}  // namespace tailgate::store::internal

// The Log contract on every backend (store/log_test_base.h): appends and
// ids, reads and cursors, retention, deduplication, reopening, listeners.
// Backend-specific behaviour: rocksdb_log_test.cc, jetstream_log_test.cc.
#include "store/log.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "store/rocksdb_log.h"
#include "store/log_test_base.h"
#include "store/test_util.h"
#include "tests/testing/nats_server.h"

namespace tailgate::store {
namespace {

using testing::Backend;
using testing::Ev;
using testing::Filter;
using testing::FreshDir;
using testing::Ids;
using testing::LogTest;
using testing::LogTestBase;
using testing::ReadAll;

TAILGATE_RUN_ON_EVERY_BACKEND(LogTest);

TEST_P(LogTest, IdsAreUniqueGapFreeAndOrderedUnderEightConcurrentAppenders) {
  auto log = Open();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  std::vector<std::vector<uint64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ids[t].push_back(AppendOne(*log, Ev(absl::StrCat("t", t), absl::StrCat(t, "/", i))));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (const auto& v : ids) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  ASSERT_EQ(all.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), uint64_t{kThreads * kPerThread});
  EXPECT_EQ(log->Watermark(), uint64_t{kThreads * kPerThread});
  EXPECT_EQ(log->LastAssignedId(), uint64_t{kThreads * kPerThread});

  std::vector<Event> events = ReadAll(*log, {">"});
  ASSERT_EQ(events.size(), all.size());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].id, i + 1);
  // Each thread's events come back in its own order with its payload.
  for (int t = 0; t < kThreads; ++t) {
    std::vector<Event> mine = ReadAll(*log, {absl::StrCat("t", t)});
    ASSERT_EQ(mine.size(), size_t{kPerThread});
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_EQ(mine[i].id, ids[t][i]);
      EXPECT_EQ(mine[i].data, absl::StrCat(t, "/", i));
    }
  }
}

TEST_P(LogTest, MultiEventAppendGetsConsecutiveIdsAndKeepsFields) {
  options_.default_retention.max_age = absl::ZeroDuration();  // Explicit old publish times.
  auto log = Open();
  AppendOne(*log, Ev("a", "first"));
  const absl::Time before = absl::Now();
  std::vector<EventInput> batch = {Ev("b", "x", "", "created"), Ev("c", "line1\nline2"),
                                   Ev("b", "")};
  batch[0].publish_time = absl::FromUnixSeconds(1000);
  auto r = log->Append(std::move(batch));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].id, 2u);
  EXPECT_EQ((*r)[1].id, 3u);
  EXPECT_EQ((*r)[2].id, 4u);
  std::vector<Event> b = ReadAll(*log, {"b"});
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].type, "created");
  EXPECT_EQ(b[0].data, "x");
  EXPECT_EQ(b[0].publish_time, absl::FromUnixSeconds(1000));
  if (jetstream()) {  // unset: the commit time (JetStream's store time)
    EXPECT_GE(b[1].publish_time, before - absl::Seconds(1));
    EXPECT_LE(b[1].publish_time, absl::Now() + absl::Seconds(1));
  } else {
    EXPECT_EQ(b[1].publish_time, clock_.Now());  // unset: the commit time
  }
  EXPECT_EQ(ReadAll(*log, {"c"})[0].data, "line1\nline2");
}

TEST_P(LogTest, MultiEventAppendWithOneBadEventStoresNothing) {
  auto log = Open();
  AppendOne(*log, Ev("ok", "1"));
  std::vector<EventInput> batch = {Ev("ok", "2"), Ev("ok", "3"), Ev("ok", "4"),
                                   Ev("bad..topic", "5")};
  auto r = log->Append(std::move(batch));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("events[3].topic"), std::string::npos) << r.status();

  std::vector<EventInput> bad_type = {Ev("ok", "2"), Ev("ok", "3", "", "bad type")};
  r = log->Append(std::move(bad_type));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("events[1].type"), std::string::npos) << r.status();

  EXPECT_EQ(log->Watermark(), 1u);
  EXPECT_EQ(ReadAll(*log, {">"}).size(), 1u);
  // The failed appends burned no ids.
  EXPECT_EQ(AppendOne(*log, Ev("ok", "2")), 2u);
}

TEST_P(LogTest, OversizedDataIsResourceExhaustedAndNamesTheField) {
  options_.max_data_bytes = 10;
  auto log = Open();
  auto r = log->Append({Ev("a", std::string(11, 'x'))});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("data"), std::string::npos);
  EXPECT_TRUE(log->Append({Ev("a", std::string(10, 'x'))}).ok());
}

TEST_P(LogTest, EmptyAppendIsInvalidAndBurnsNoId) {
  auto log = Open();
  auto r = log->Append({});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "events: at least one event required");
  EXPECT_EQ(AppendOne(*log, Ev("a", "1")), 1u);
}

// Both backends check the retention options alike, before touching storage,
// and name the offending field.
TEST_P(LogTest, MalformedRetentionPatternsAreRejectedNamingTheField) {
  auto open_status = [&] {
    return jetstream() ? OpenJetStreamLog(options_, js_).status()
                       : OpenRocksDbLog(options_).status();
  };
  options_.retention_rules = {{"ok.>", 1, absl::ZeroDuration()},
                              {"bad..pattern", 1, absl::ZeroDuration()}};
  absl::Status s = open_status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message().rfind("retention_rules[1].pattern: ", 0), 0u) << s;

  options_.retention_rules.clear();
  options_.default_retention.pattern = "a.>.b";
  s = open_status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message().rfind("default_retention.pattern: ", 0), 0u) << s;

  options_.default_retention.pattern = ">";
  EXPECT_TRUE(open_status().ok());
}

TEST_P(LogTest, AppendAfterCloseIsUnavailableAndCloseIsIdempotent) {
  auto log = Open();
  AppendOne(*log, Ev("a", "1"));
  log->Close();
  log->Close();
  auto r = log->Append({Ev("a", "2")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(log->Read(ReadRequest{}).status().code(), absl::StatusCode::kUnavailable);
}

TEST_P(LogTest, CloseCompletesAcceptedAppends) {
  auto log = Open();
  std::atomic<int> acked{0};
  for (int i = 0; i < 200; ++i) {
    log->AppendAsync({Ev("a", "x")}, [&](absl::StatusOr<std::vector<AppendResult>> r) {
      if (r.ok()) acked++;
    });
  }
  log->Close();
  EXPECT_EQ(acked.load(), 200);
  log.reset();
  log = Open();
  EXPECT_EQ(log->Watermark(), 200u);
}

// 100 topics named region.shard (2 regions x 50 shards), events round-robin.
class ManyTopicsTest : public LogTest {
 protected:
  void SetUp() override {
    LogTest::SetUp();
    log_ = Open();
    for (int round = 0; round < 12; ++round) {
      std::vector<EventInput> batch;
      for (int i = 0; i < 100; ++i) {
        std::string topic = absl::StrCat(i % 2 ? "us" : "eu", ".", i / 2);
        batch.push_back(Ev(topic, absl::StrCat(topic, "#", round)));
      }
      auto r = log_->Append(std::move(batch));
      ASSERT_TRUE(r.ok()) << r.status();
      for (const AppendResult& a : *r) all_.push_back(a.id);
    }
  }

  // Brute force over the full log.
  std::vector<uint64_t> Expected(const std::vector<std::string>& patterns) {
    TopicFilter f = Filter(patterns);
    std::vector<uint64_t> ids;
    for (const Event& e : ReadAll(*log_, {">"})) {
      if (f.Matches(e.topic)) ids.push_back(e.id);
    }
    return ids;
  }

  std::unique_ptr<Log> log_;
  std::vector<uint64_t> all_;
};

TAILGATE_RUN_ON_EVERY_BACKEND(ManyTopicsTest);

TEST_P(ManyTopicsTest, ExactTopicReadReturnsOnlyThatTopicInOrder) {
  std::vector<Event> events = ReadAll(*log_, {"us.21"});
  ASSERT_EQ(events.size(), 12u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].topic, "us.21");
    EXPECT_EQ(events[i].data, absl::StrCat("us.21#", i));
    EXPECT_EQ(events[i].id, 100 * i + 44);  // index 43 in each round of 100
  }
  EXPECT_TRUE(ReadAll(*log_, {"us.99"}).empty());
}

TEST_P(ManyTopicsTest, WildcardAndMultiPatternReadsMatchBruteForce) {
  const std::vector<std::vector<std::string>> cases = {
      {">"},      {"eu.*"},          {"*.7"},           {"eu.>"},
      {"us.1", "eu.*", "eu.3"},      {"us.1", "us.2"},  {"*.*"},
      {"x.>"},    {"eu.1", "us.*"},
  };
  for (const auto& patterns : cases) {
    std::vector<uint64_t> want = Expected(patterns);
    EXPECT_EQ(Ids(ReadAll(*log_, patterns)), want) << patterns[0];
    // Small chunks resume exactly where the previous one stopped.
    EXPECT_EQ(Ids(ReadAll(*log_, patterns, 0, 7)), want) << patterns[0];
    EXPECT_EQ(Ids(ReadAll(*log_, patterns, 0, 1)), want) << patterns[0];
  }
  EXPECT_EQ(Expected({">"}).size(), 1200u);
  EXPECT_EQ(Expected({"eu.*"}).size(), 600u);
}

TEST_P(ManyTopicsTest, ReadHonoursAfterIdUpToIdAndByteBudget) {
  ReadRequest req;
  req.filter = Filter({"eu.*"});
  req.after_id = 500;
  req.up_to_id = 600;
  auto r = log_->Read(req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->events.size(), 50u);
  EXPECT_EQ(r->events.front().id, 501u);
  EXPECT_EQ(r->events.back().id, 599u);
  EXPECT_TRUE(r->reached_end);
  EXPECT_EQ(r->next_after_id, 600u);  // the bound: nothing to rescan

  req.up_to_id = 0;
  req.max_bytes = 1;  // at least one event even when it alone is over budget
  r = log_->Read(req);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_EQ(r->next_after_id, 501u);
  EXPECT_FALSE(r->reached_end);

  req.filter = Filter({">"});
  req.max_bytes = 3 * (5 + 7);  // topic "eu.0" + data "eu.0#0"-ish: a few events
  r = log_->Read(req);
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->events.size(), 1u);
  EXPECT_LE(r->events.size(), 3u);

  req.after_id = log_->Watermark();
  r = log_->Read(req);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->events.empty());
  EXPECT_TRUE(r->reached_end);
}

TEST_P(ManyTopicsTest, CursorBeforeLastMatchesBruteForce) {
  // Merged per-topic iterators (<= 64 topics), the id-index scan (">": 100
  // topics), overlapping patterns, bounds, n beyond what matches, no match.
  const std::vector<std::vector<std::string>> cases = {
      {"us.21"}, {"eu.*"}, {">"}, {"us.1", "eu.*", "eu.3"}, {"*.7", "eu.>"}, {"x.>"}};
  for (const auto& patterns : cases) {
    const std::vector<uint64_t> all = Expected(patterns);
    for (uint64_t bound : {uint64_t{0}, uint64_t{777}}) {
      std::vector<uint64_t> upto;
      for (uint64_t id : all) {
        if (bound == 0 || id <= bound) upto.push_back(id);
      }
      const uint64_t top = bound == 0 ? log_->Watermark() : bound;
      for (size_t n : {size_t{1}, size_t{5}, size_t{40}, size_t{5000}}) {
        uint64_t want = top;
        if (!upto.empty()) want = upto[upto.size() > n ? upto.size() - n : 0] - 1;
        absl::StatusOr<uint64_t> got = log_->CursorBeforeLast(Filter(patterns), n, bound);
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(*got, want) << patterns[0] << " n=" << n << " bound=" << bound;
      }
    }
  }
}

TEST_P(ManyTopicsTest, ListTopicsEarliestCursorAndStats) {
  auto topics = log_->ListTopics(Filter({"eu.*"}));
  ASSERT_TRUE(topics.ok());
  ASSERT_EQ(topics->size(), 50u);
  const TopicInfo& eu0 = (*topics)[0];
  EXPECT_EQ(eu0.topic, "eu.0");
  EXPECT_EQ(eu0.first_id, 1u);
  EXPECT_EQ(eu0.last_id, 1101u);
  EXPECT_EQ(eu0.count, 12u);
  if (!jetstream()) {  // JetStream keeps no per-subject byte counts
    EXPECT_EQ(eu0.bytes, 12 * std::string("eu.0#0").size() + 2);  // "#10", "#11"
  }

  EXPECT_EQ(*log_->EarliestCursor(Filter({"us.*"})), 1u);
  EXPECT_EQ(*log_->EarliestCursor(Filter({"us.3"})), 7u);
  EXPECT_EQ(*log_->EarliestCursor(Filter({"nope"})), log_->Watermark());

  auto stats = log_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->watermark, 1200u);
  EXPECT_EQ(stats->events, 1200u);
  EXPECT_EQ(stats->topics, 100u);
}

TEST_P(LogTest, CursorAtTimeFindsLastEventPublishedBefore) {
  options_.default_retention.max_age = absl::ZeroDuration();  // Publish times from 2020.
  auto log = Open();
  const absl::Time t0 = absl::FromUnixSeconds(1'600'000'000);
  for (int i = 0; i < 10; ++i) {
    EventInput e = Ev(absl::StrCat("t", i % 3), "x");
    e.publish_time = t0 + absl::Seconds(i);
    AppendOne(*log, e);  // id i+1 published at t0+i
  }
  EXPECT_EQ(*log->CursorAtTime(t0 - absl::Seconds(1)), 0u);
  EXPECT_EQ(*log->CursorAtTime(t0), 0u);
  EXPECT_EQ(*log->CursorAtTime(t0 + absl::Milliseconds(1)), 1u);
  EXPECT_EQ(*log->CursorAtTime(t0 + absl::Seconds(5)), 5u);
  EXPECT_EQ(*log->CursorAtTime(t0 + absl::Hours(1)), 10u);
  // Reading from the cursor starts at the first event at or after t.
  std::vector<Event> from = ReadAll(*log, {">"}, *log->CursorAtTime(t0 + absl::Seconds(5)));
  ASSERT_FALSE(from.empty());
  EXPECT_EQ(from[0].publish_time, t0 + absl::Seconds(5));
}

// One commit's events mostly share a publish time; the lookup must land after
// the last of those published before the time asked for.
TEST_P(LogTest, CursorAtTimeWithEventsSharingTheirTimeInOneCommit) {
  auto log = Open();
  const absl::Time t0 = absl::FromUnixSeconds(1'600'000'000);
  const int offsets[] = {0, 0, 0, 1, 1, 2};  // seconds after t0 of ids 1..6
  std::vector<EventInput> batch;
  for (const int d : offsets) {
    batch.push_back(Ev(batch.size() % 2 ? "a" : "b", "x"));
    batch.back().publish_time = t0 + absl::Seconds(d);
  }
  ASSERT_TRUE(log->Append(std::move(batch)).ok());  // one commit
  EXPECT_EQ(*log->CursorAtTime(t0), 0u);
  EXPECT_EQ(*log->CursorAtTime(t0 + absl::Milliseconds(1)), 3u);
  EXPECT_EQ(*log->CursorAtTime(t0 + absl::Seconds(1)), 3u);
  EXPECT_EQ(*log->CursorAtTime(t0 + absl::Milliseconds(1001)), 5u);
  EXPECT_EQ(*log->CursorAtTime(t0 + absl::Seconds(3)), 6u);
  // A later commit with the same time moves the lookup past its event too.
  EventInput more = Ev("a", "y");
  more.publish_time = t0 + absl::Seconds(2);
  EXPECT_EQ(AppendOne(*log, more), 7u);
  EXPECT_EQ(*log->CursorAtTime(t0 + absl::Seconds(3)), 7u);
  EXPECT_EQ(*log->CursorAtTime(t0 + absl::Milliseconds(1001)), 5u);
}

TEST_P(LogTest, RetentionByMaxEventsKeepsNewestAndReportsTrimmed) {
  options_.retention_rules = {{"small.>", 10, absl::ZeroDuration()}};
  auto log = Open();
  for (int i = 0; i < 25; ++i) {
    AppendOne(*log, Ev("small.a", absl::StrCat(i)));
    AppendOne(*log, Ev("big", absl::StrCat(i)));
  }
  ASSERT_TRUE(log->EnforceRetention().ok());
  auto topics = log->ListTopics(Filter({"small.a"}));
  ASSERT_EQ(topics->size(), 1u);
  EXPECT_EQ((*topics)[0].count, 10u);
  EXPECT_EQ((*topics)[0].first_id, 31u);  // small.a has the odd ids
  EXPECT_EQ((*topics)[0].last_id, 49u);

  bool trimmed = false;
  std::vector<Event> events = ReadAll(*log, {"small.*"}, 0, 1024, &trimmed);
  EXPECT_TRUE(trimmed);
  ASSERT_EQ(events.size(), 10u);
  EXPECT_EQ(events[0].data, "15");
  ReadAll(*log, {"small.*"}, 29, 1024, &trimmed);
  EXPECT_FALSE(trimmed);  // everything after 29 is still there
  ReadAll(*log, {"big"}, 0, 1024, &trimmed);
  // JetStream cannot tell which topic the removed ids 1..29 belonged to, so
  // it reports trimmed conservatively (see log.h).
  EXPECT_EQ(trimmed, jetstream());
  EXPECT_EQ(ReadAll(*log, {"big"}).size(), 25u);
  EXPECT_EQ(log->Stats()->events, 35u);
}

TEST_P(LogTest, RetentionByGlobalBytesRemovesOldestAcrossTopics) {
  options_.max_total_bytes = 1000;
  auto log = Open();
  for (int i = 0; i < 30; ++i) AppendOne(*log, Ev(absl::StrCat("t", i % 3), std::string(100, 'x')));
  ASSERT_TRUE(log->EnforceRetention().ok());
  auto stats = log->Stats();
  EXPECT_LE(stats->bytes, 1000u);
  std::vector<Event> events = ReadAll(*log, {">"});
  if (jetstream()) {
    // JetStream counts stored bytes (subject and headers too), so fewer
    // 100-byte events fit; still the newest, oldest removed first.
    ASSERT_GE(events.size(), 5u);
    ASSERT_LT(events.size(), 10u);
    EXPECT_EQ(stats->events, events.size());
    EXPECT_EQ(events.back().id, 30u);
    EXPECT_EQ(events.front().id, 30u - events.size() + 1);
  } else {
    EXPECT_EQ(stats->events, 10u);
    ASSERT_EQ(events.size(), 10u);
    EXPECT_EQ(events[0].id, 21u);
  }
  bool trimmed = false;
  ReadAll(*log, {"t1"}, 0, 1024, &trimmed);
  EXPECT_TRUE(trimmed);
}

TEST_P(LogTest, TrimTopicRemovesPrefixOnly) {
  auto log = Open();
  for (int i = 0; i < 10; ++i) {
    AppendOne(*log, Ev("a", "x"));
    AppendOne(*log, Ev("b", "y"));
  }
  ASSERT_TRUE(log->TrimTopic("a", 10).ok());
  EXPECT_EQ(Ids(ReadAll(*log, {"a"})), (std::vector<uint64_t>{11, 13, 15, 17, 19}));
  EXPECT_EQ(ReadAll(*log, {"b"}).size(), 10u);
  bool trimmed = false;
  ReadAll(*log, {"a"}, 8, 1024, &trimmed);
  EXPECT_TRUE(trimmed);  // 9 is gone
  ReadAll(*log, {"a"}, 9, 1024, &trimmed);
  EXPECT_FALSE(trimmed);
  EXPECT_EQ(log->TrimTopic("nope", 10).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(log->TrimTopic("bad..", 10).code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(LogTest, DeleteTopicRemovesEventsAndMetadataButRemembersTrim) {
  auto log = Open();
  for (int i = 0; i < 5; ++i) {
    AppendOne(*log, Ev("gone", "x"));
    AppendOne(*log, Ev("kept", "y"));
  }
  ASSERT_TRUE(log->DeleteTopic("gone").ok());
  EXPECT_EQ(log->ListTopics(Filter({">"}))->size(), 1u);
  EXPECT_EQ(log->Stats()->events, 5u);
  bool trimmed = false;
  EXPECT_TRUE(ReadAll(*log, {"gone"}, 0, 1024, &trimmed).empty());
  EXPECT_TRUE(trimmed);
  ReadAll(*log, {">"}, 3, 1024, &trimmed);
  EXPECT_TRUE(trimmed);
  EXPECT_EQ(log->DeleteTopic("gone").code(), absl::StatusCode::kNotFound);

  // The topic may come back; ids keep climbing.
  EXPECT_EQ(AppendOne(*log, Ev("gone", "again")), 11u);
  auto info = log->ListTopics(Filter({"gone"}));
  ASSERT_EQ(info->size(), 1u);
  EXPECT_EQ((*info)[0].first_id, 11u);
  EXPECT_EQ((*info)[0].count, 1u);
}

TEST_P(LogTest, DuplicateIdempotencyKeyReturnsOriginalIdAndStoresNothing) {
  auto log = Open();
  auto first = log->Append({Ev("a", "1", "k1")});
  ASSERT_TRUE(first.ok());
  auto again = log->Append({Ev("a", "1", "k1")});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].id, (*first)[0].id);
  EXPECT_TRUE((*again)[0].duplicate);
  // The key is scoped to the topic.
  auto other = log->Append({Ev("b", "1", "k1")});
  EXPECT_FALSE((*other)[0].duplicate);

  // In one append: the repeat is a duplicate of the first; the rest are stored.
  auto mixed = log->Append({Ev("a", "2", "k2"), Ev("a", "1", "k1"), Ev("a", "2", "k2"),
                            Ev("a", "3")});
  ASSERT_TRUE(mixed.ok());
  EXPECT_FALSE((*mixed)[0].duplicate);
  EXPECT_EQ((*mixed)[1].id, (*first)[0].id);
  EXPECT_TRUE((*mixed)[1].duplicate);
  EXPECT_EQ((*mixed)[2].id, (*mixed)[0].id);
  EXPECT_TRUE((*mixed)[2].duplicate);
  EXPECT_EQ((*mixed)[3].id, (*mixed)[0].id + 1);
  std::vector<Event> events = ReadAll(*log, {"a"});
  std::vector<std::string> data;
  for (const Event& e : events) data.push_back(e.data);
  EXPECT_EQ(data, (std::vector<std::string>{"1", "2", "3"}));
}

TEST_P(LogTest, ConcurrentAppendsWithOneKeyStoreExactlyOneEvent) {
  auto log = Open();
  std::vector<std::thread> threads;
  std::atomic<int> stored{0};
  std::set<uint64_t> ids;
  absl::Mutex mu;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto r = log->Append({Ev("a", "x", absl::StrCat("key", i))});
        ASSERT_TRUE(r.ok());
        if (!(*r)[0].duplicate) stored++;
        absl::MutexLock l(&mu);
        ids.insert((*r)[0].id);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(stored.load(), 20);
  EXPECT_EQ(ids.size(), 20u);
  EXPECT_EQ(ReadAll(*log, {"a"}).size(), 20u);
}

TEST_P(LogTest, DedupSurvivesReopen) {
  options_.dedup_window = absl::Minutes(10);
  auto log = Open();
  uint64_t id = AppendOne(*log, Ev("a", "1", "k"));
  log.reset();
  log = Open();
  auto r = log->Append({Ev("a", "1", "k")});
  EXPECT_TRUE((*r)[0].duplicate);
  EXPECT_EQ((*r)[0].id, id);
  EXPECT_EQ(log->Watermark(), id);
}

TEST_P(LogTest, ReopenContinuesIdsAndKeepsEvents) {
  auto log = Open();
  for (int i = 0; i < 5; ++i) AppendOne(*log, Ev("a", absl::StrCat(i)));
  log.reset();
  log = Open();
  EXPECT_EQ(log->Watermark(), 5u);
  EXPECT_EQ(ReadAll(*log, {"a"}).size(), 5u);
  EXPECT_EQ(AppendOne(*log, Ev("a", "5")), 6u);
  EXPECT_EQ(log->ListTopics(Filter({"a"}))->at(0).count, 6u);
}

TEST_P(LogTest, ReopenAfterEverythingWasRemovedNeverReusesIds) {
  auto log = Open();
  for (int i = 0; i < 5; ++i) AppendOne(*log, Ev("a", "x"));
  ASSERT_TRUE(log->DeleteTopic("a").ok());
  log.reset();
  log = Open();
  EXPECT_EQ(log->LastAssignedId(), 5u);
  EXPECT_EQ(AppendOne(*log, Ev("b", "x")), 6u);
  bool trimmed = false;
  ReadAll(*log, {"a"}, 0, 1024, &trimmed);
  EXPECT_TRUE(trimmed);  // the deletion is remembered across reopen
}

TEST_P(LogTest, CommitListenerSeesEveryEventOnceInOrder) {
  auto log = Open();
  absl::Mutex mu;
  std::vector<uint64_t> seen;
  uint64_t last_watermark = 0;
  bool ok = true;
  uint64_t handle = log->AddCommitListener([&](absl::Span<const Event> events, uint64_t wm) {
    absl::MutexLock l(&mu);
    if (events.empty() || events.back().id != wm || wm <= last_watermark) ok = false;
    for (const Event& e : events) seen.push_back(e.id);
    last_watermark = wm;
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(log->Append({Ev("a", "x", absl::StrCat(i % 150))}).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  log->RemoveCommitListener(handle);
  AppendOne(*log, Ev("a", "after"));
  absl::MutexLock l(&mu);
  EXPECT_TRUE(ok);
  ASSERT_EQ(seen.size(), 150u);  // duplicates are not committed events
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1);
}

}  // namespace
}  // namespace tailgate::store

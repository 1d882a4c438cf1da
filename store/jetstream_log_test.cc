// JetStream-only behaviour: several nodes on one stream, server crashes,
// deduplication across nodes. The shared Log behaviour is in log_test.cc.
#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "nats/nats.h"
#include "store/jetstream_log.h"
#include "store/log.h"
#include "store/test_util.h"
#include "tests/testing/nats_server.h"

namespace tailgate::store {
namespace {

using testing::Ev;
using testing::Ids;
using testing::ReadAll;

// Records what a commit listener saw and checks the listener contract:
// ascending, gap-free above the previous watermark (ids may skip removed
// sequences, never go back), batch ends at the watermark.
class Recorder {
 public:
  Log::CommitListener Listener() {
    return [this](absl::Span<const Event> events, uint64_t wm) {
      absl::MutexLock l(&mu_);
      if (events.empty() || events.back().id != wm || wm <= watermark_) ok_ = false;
      for (const Event& e : events) {
        if (!ids_.empty() && e.id <= ids_.back()) ok_ = false;
        ids_.push_back(e.id);
        data_.push_back(e.data);
      }
      watermark_ = wm;
    };
  }

  // Waits until `n` events arrived; false on timeout.
  bool WaitFor(size_t n, absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock l(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ids_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

  std::vector<uint64_t> ids() {
    absl::MutexLock l(&mu_);
    return ids_;
  }
  std::vector<std::string> data() {
    absl::MutexLock l(&mu_);
    return data_;
  }
  bool ok() {
    absl::MutexLock l(&mu_);
    return ok_;
  }

 private:
  absl::Mutex mu_;
  std::vector<uint64_t> ids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> data_ ABSL_GUARDED_BY(mu_);
  uint64_t watermark_ ABSL_GUARDED_BY(mu_) = 0;
  bool ok_ ABSL_GUARDED_BY(mu_) = true;
};

class JetStreamLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.max_total_bytes = 64 << 20;
    options_.retention_interval = absl::Hours(1);
    js_.url = server_.url();
    js_.stream = "EVENTS";
    js_.subject_prefix = "tg";
    js_.connect_timeout = absl::Seconds(2);
  }

  std::unique_ptr<Log> Open() {
    absl::StatusOr<std::unique_ptr<Log>> log = OpenJetStreamLog(options_, js_);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  static uint64_t AppendOne(Log& log, EventInput e) {
    std::vector<EventInput> v;
    v.push_back(std::move(e));
    absl::StatusOr<std::vector<AppendResult>> r = log.Append(std::move(v));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? (*r)[0].id : 0;
  }

  ::tailgate::testing::NatsServer server_;
  Options options_;
  JetStreamOptions js_;
};

TEST_F(JetStreamLogTest, TwoNodesSeeEveryEventInTheSameOrderWithTheSameIds) {
  auto a = Open();
  auto b = Open();
  Recorder seen_a, seen_b;
  a->AddCommitListener(seen_a.Listener());
  b->AddCommitListener(seen_b.Listener());

  // Both nodes publish concurrently.
  constexpr int kPerNode = 200;
  std::vector<uint64_t> ids_a, ids_b;
  std::thread ta([&] {
    for (int i = 0; i < kPerNode; ++i) ids_a.push_back(AppendOne(*a, Ev("x", absl::StrCat("a", i))));
  });
  std::thread tb([&] {
    for (int i = 0; i < kPerNode; ++i) ids_b.push_back(AppendOne(*b, Ev("y", absl::StrCat("b", i))));
  });
  ta.join();
  tb.join();

  ASSERT_TRUE(seen_a.WaitFor(2 * kPerNode));
  ASSERT_TRUE(seen_b.WaitFor(2 * kPerNode));
  EXPECT_TRUE(seen_a.ok());
  EXPECT_TRUE(seen_b.ok());
  // Same events, same ids, same order on both nodes: 1..400 without gaps.
  EXPECT_EQ(seen_a.ids(), seen_b.ids());
  EXPECT_EQ(seen_a.data(), seen_b.data());
  std::vector<uint64_t> want(2 * kPerNode);
  for (size_t i = 0; i < want.size(); ++i) want[i] = i + 1;
  EXPECT_EQ(seen_a.ids(), want);
  // Each appender's acks name the ids the other node saw for its events.
  std::set<uint64_t> acked(ids_a.begin(), ids_a.end());
  acked.insert(ids_b.begin(), ids_b.end());
  EXPECT_EQ(acked.size(), want.size());
  EXPECT_EQ(b->Watermark(), 2u * kPerNode);
  // Node b reads node a's events from the stream.
  EXPECT_EQ(Ids(ReadAll(*b, {"x"})), ids_a);
}

TEST_F(JetStreamLogTest, IdempotencyKeyDeduplicatesAcrossNodes) {
  auto a = Open();
  auto b = Open();
  const uint64_t id = AppendOne(*a, Ev("orders.1", "created", "req-7"));
  auto again = b->Append({Ev("orders.1", "created (retry via b)", "req-7")});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)[0].duplicate);
  EXPECT_EQ((*again)[0].id, id);
  // The key is scoped per topic.
  EXPECT_FALSE((*b->Append({Ev("orders.2", "x", "req-7")}))[0].duplicate);
  EXPECT_FALSE((*b->Append({Ev("orders.1", "x", "req-8")}))[0].duplicate);
  EXPECT_EQ(ReadAll(*b, {"orders.1"}).size(), 2u);
  EXPECT_EQ(JetStreamMsgId("orders.1", "req-7"), "orders.1|req-7");
}

TEST_F(JetStreamLogTest, ServerCrashLosesAndDuplicatesNothingForListeners) {
  js_.ack_timeout = absl::Seconds(5);  // a lost ack is reported sooner
  auto log = Open();
  Recorder seen;
  log->AddCommitListener(seen.Listener());
  std::vector<uint64_t> acked;
  for (int i = 0; i < 50; ++i) acked.push_back(AppendOne(*log, Ev("t", absl::StrCat(i))));
  ASSERT_TRUE(seen.WaitFor(50));

  server_.Kill();
  // Appends while the server is down either complete once it is back (the
  // client's reconnect buffer) or fail UNAVAILABLE ("may or may not be
  // stored"): a write on the dead socket (EPIPE) or a lost ack. Publishers
  // retry those with their idempotency key, as docs/publishing.md tells them to.
  std::atomic<int> done{0};
  absl::Mutex mu;
  std::vector<uint64_t> late;
  std::vector<int> failed;
  for (int i = 0; i < 20; ++i) {
    log->AppendAsync({Ev("t", absl::StrCat("down", i), absl::StrCat("key-down", i))},
                     [&, i](absl::StatusOr<std::vector<AppendResult>> r) {
                       absl::MutexLock l(&mu);
                       if (r.ok()) {
                         late.push_back((*r)[0].id);
                       } else {
                         EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
                         failed.push_back(i);
                       }
                       done++;
                     });
  }
  server_.Restart();
  auto append_retrying = [&](const EventInput& e) -> uint64_t {
    for (int attempt = 0; attempt < 10; ++attempt) {
      absl::StatusOr<std::vector<AppendResult>> r = log->Append({e});
      if (r.ok()) return (*r)[0].id;
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    }
    ADD_FAILURE() << "append of " << e.data << " failed 10 times";
    return 0;
  };
  for (int i = 0; i < 30; ++i) {
    acked.push_back(append_retrying(Ev("t", absl::StrCat("up", i), absl::StrCat("key-up", i))));
  }
  {
    absl::MutexLock l(&mu);
    auto all_done = [&] { return done.load() == 20; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(60)));
    acked.insert(acked.end(), late.begin(), late.end());
  }
  for (int i : failed) {
    acked.push_back(append_retrying(Ev("t", absl::StrCat("down", i), absl::StrCat("key-down", i))));
  }
  std::sort(acked.begin(), acked.end());
  // A retry of a stored event is a duplicate and names the same id.
  acked.erase(std::unique(acked.begin(), acked.end()), acked.end());
  EXPECT_EQ(acked.size(), 100u);
  ASSERT_TRUE(seen.WaitFor(acked.size()));
  EXPECT_TRUE(seen.ok());
  // Every acknowledged event reached the listener exactly once, in id order,
  // and nothing else did (a retried event is stored once).
  EXPECT_EQ(seen.ids(), acked);
  EXPECT_EQ(ReadAll(*log, {"t"}).size(), acked.size());
  EXPECT_EQ(log->Watermark(), acked.back());
}

TEST_F(JetStreamLogTest, ReopenedNodeFollowsFromTheStreamEnd) {
  auto a = Open();
  for (int i = 0; i < 5; ++i) AppendOne(*a, Ev("t", "x"));
  auto b = Open();
  EXPECT_EQ(b->Watermark(), 5u);
  Recorder seen;
  b->AddCommitListener(seen.Listener());
  const uint64_t id = AppendOne(*a, Ev("t", "new"));
  ASSERT_TRUE(seen.WaitFor(1));
  EXPECT_EQ(seen.ids(), std::vector<uint64_t>{id});
}

TEST_F(JetStreamLogTest, BatchGetsConsecutiveIdsWhenNoOtherNodePublishes) {
  std::atomic<size_t> observed{0};
  options_.commit_observer = [&](size_t events, absl::Duration latency) {
    EXPECT_GE(latency, absl::ZeroDuration());
    observed += events;
  };
  auto log = Open();
  auto r = log->Append({Ev("a", "1"), Ev("b", "2", "k"), Ev("a", "3")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].id, 1u);
  EXPECT_EQ((*r)[1].id, 2u);
  EXPECT_EQ((*r)[2].id, 3u);
  // Observers count stored events, not duplicates.
  ASSERT_TRUE(log->Append({Ev("b", "2", "k"), Ev("c", "4")}).ok());
  EXPECT_EQ(observed.load(), 4u);
}

TEST_F(JetStreamLogTest, CheckpointIsUnimplemented) {
  auto log = Open();
  absl::Status s = log->Checkpoint(testing::FreshDir());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("nats stream backup"), std::string::npos) << s;
}

TEST_F(JetStreamLogTest, BadOptionsAndUnreachableServerAreRejected) {
  JetStreamOptions bad = js_;
  bad.url.clear();
  EXPECT_EQ(OpenJetStreamLog(options_, bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = js_;
  bad.stream = "has.dot";
  EXPECT_EQ(OpenJetStreamLog(options_, bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = js_;
  bad.subject_prefix = "bad..prefix";
  EXPECT_EQ(OpenJetStreamLog(options_, bad).status().code(), absl::StatusCode::kInvalidArgument);
  Options bad_rules = options_;
  bad_rules.retention_rules = {{"bad..pattern", 1, absl::ZeroDuration()}};
  EXPECT_EQ(OpenJetStreamLog(bad_rules, js_).status().code(), absl::StatusCode::kInvalidArgument);
  // R3 needs a cluster.
  bad = js_;
  bad.replicas = 3;
  EXPECT_EQ(OpenJetStreamLog(options_, bad).status().code(),
            absl::StatusCode::kFailedPrecondition);

  server_.Kill();
  auto down = OpenJetStreamLog(options_, js_);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_NE(down.status().message().find(server_.url()), std::string::npos) << down.status();
}

// The one stream-name rule (the gateway's --nats_stream check calls it too).
TEST(JetStreamStreamNameTest, NatsRule) {
  for (const char* ok : {"TAILGATE", "tg-1_x", "a:b", "A"}) {
    EXPECT_TRUE(ValidateJetStreamStreamName(ok, "stream").ok()) << ok;
  }
  for (const char* bad : {"", "a.b", "a*", "a>", "a/b", "a\\b", "a b", "a\tb"}) {
    absl::Status s = ValidateJetStreamStreamName(bad, "--nats_stream");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(),
              absl::StrCat("--nats_stream must be a non-empty name without spaces, '.', '*', '>', "
                           "'/' or '\\', got '", bad, "'"));
  }
}

// Retention rules stricter than the stream's own limits are applied by the
// log's pass, by age on the injected clock: moving a fake clock past a
// rule's max_age purges that topic's older events, and only those.
TEST_F(JetStreamLogTest, RetentionPassFollowsTheInjectedClock) {
  options_.default_retention = RetentionRule{">", 0, absl::Hours(24)};
  options_.retention_rules = {RetentionRule{"fast.>", 0, absl::Minutes(5)}};
  absl::Mutex clock_mu;
  absl::Time now = absl::Now();
  JetStreamLogHooks hooks;
  hooks.clock = [&] {
    absl::MutexLock l(&clock_mu);
    return now;
  };
  absl::StatusOr<std::unique_ptr<Log>> opened = OpenJetStreamLogWithHooks(options_, js_, hooks);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Log& log = **opened;
  AppendOne(log, Ev("fast.a", "1"));
  AppendOne(log, Ev("fast.a", "2"));
  const uint64_t slow = AppendOne(log, Ev("slow.b", "3"));

  ASSERT_TRUE(log.EnforceRetention().ok());
  EXPECT_EQ(ReadAll(log, {">"}).size(), 3u) << "nothing is 5 minutes old yet";

  {
    absl::MutexLock l(&clock_mu);
    now += absl::Minutes(6);
  }
  ASSERT_TRUE(log.EnforceRetention().ok());
  EXPECT_EQ(Ids(ReadAll(log, {">"})), std::vector<uint64_t>{slow});
  EXPECT_TRUE(ReadAll(log, {"fast.>"}).empty());
}

// The node-local read cache (JetStreamOptions::read_cache_bytes) answers
// exactly what the stream does: a node with the cache, one with a cache too
// small for the history (reads below it go to JetStream), two opened after
// the history (their copies load it at open: all of it, and the newest part
// that fits) and one without agree on every read, across many topics, patterns, cursors and chunk
// sizes, before and after a trim (trimmed and reached_end included); the
// uncached node's answers (consumers on the stream: filtered for exact
// topics, unfiltered and matched here for wildcards) equal brute force.
TEST_F(JetStreamLogTest, ReadCacheAnswersLikeTheStream) {
  auto cached = Open();
  js_.read_cache_bytes = 100 * (sizeof(Event) + 200);  // about 100 events
  auto small = Open();
  js_.read_cache_bytes = 0;
  auto uncached = Open();
  uint64_t last = 0;
  std::vector<std::pair<uint64_t, std::string>> appended;  // (id, topic)
  for (int round = 0; round < 20; ++round) {
    std::vector<EventInput> batch;
    for (int t = 0; t < 100; ++t) {
      if ((t + round) % 3 == 0) continue;  // topics of different lengths
      batch.push_back(Ev(absl::StrCat("many.", t), absl::StrCat("r", round, "t", t)));
    }
    if (round % 4 == 0) batch.push_back(Ev("single", absl::StrCat("s", round)));
    std::vector<std::string> topics;
    for (const EventInput& e : batch) topics.push_back(e.topic);
    absl::StatusOr<std::vector<AppendResult>> r = cached->Append(std::move(batch));
    ASSERT_TRUE(r.ok()) << r.status();
    for (size_t i = 0; i < r->size(); ++i) appended.emplace_back((*r)[i].id, topics[i]);
    last = r->back().id;
  }
  // What the stream holds: the appended events minus what the test removes.
  uint64_t trimmed_many1_through = 0;
  bool single_deleted = false;
  auto brute_force = [&](const std::vector<std::string>& patterns, uint64_t after) {
    TopicFilter f = testing::Filter(patterns);
    std::vector<uint64_t> ids;
    for (const auto& [id, topic] : appended) {
      if (id <= after || !f.Matches(topic)) continue;
      if (topic == "many.1" && id <= trimmed_many1_through) continue;
      if (topic == "single" && single_deleted) continue;
      ids.push_back(id);
    }
    return ids;
  };
  for (Log* log : {small.get(), uncached.get()}) {
    for (int i = 0; i < 3000 && log->Watermark() < last; ++i) absl::SleepFor(absl::Milliseconds(10));
    ASSERT_EQ(log->Watermark(), last);
  }
  // Two nodes opened after the history: their copies load it from the
  // stream, all of it and (small) only the newest ~100 events.
  struct Filled {
    absl::Notification done;
    uint64_t from = 0, through = 0;
    size_t loaded = 0;
  };
  auto open_late = [&](Filled* f) {
    JetStreamLogHooks hooks;
    hooks.cache_filled = [f](uint64_t from, uint64_t through, size_t loaded) {
      f->from = from;
      f->through = through;
      f->loaded = loaded;
      f->done.Notify();
    };
    absl::StatusOr<std::unique_ptr<Log>> log = OpenJetStreamLogWithHooks(options_, js_, hooks);
    EXPECT_TRUE(log.ok()) << log.status();
    EXPECT_TRUE(f->done.WaitForNotificationWithTimeout(absl::Seconds(60)));
    return log.ok() ? *std::move(log) : nullptr;
  };
  Filled late_fill, late_small_fill;
  js_.read_cache_bytes = size_t{256} << 20;
  auto late = open_late(&late_fill);
  js_.read_cache_bytes = 100 * (sizeof(Event) + 200);
  auto late_small = open_late(&late_small_fill);
  ASSERT_TRUE(late && late_small);
  EXPECT_EQ(late_fill.from, 0u);
  EXPECT_EQ(late_fill.through, last);
  EXPECT_EQ(late_fill.loaded, appended.size());
  EXPECT_EQ(late_small_fill.through, last);
  EXPECT_GT(late_small_fill.loaded, 50u);
  EXPECT_LT(late_small_fill.loaded, appended.size() / 2);
  // It covers (from, last]: exactly the events loaded.
  size_t in_range = 0;
  for (const auto& [id, topic] : appended) in_range += id > late_small_fill.from ? 1 : 0;
  EXPECT_EQ(late_small_fill.loaded, in_range);

  auto check = [&](const std::string& when) {
    const std::vector<std::vector<std::string>> filters = {
        {">"}, {"many.*"}, {"many.42"}, {"single"}, {"many.1", "single"},
        {"many.1", "many.2", "many.3", "many.4", "many.5", "single"}, {"none"}};
    for (const auto& patterns : filters) {
      for (uint64_t after : {uint64_t{0}, uint64_t{1}, last / 3, last - 150, last - 5, last}) {
        // The stream's answer once, in large chunks: read one event at a
        // time it costs a pull consumer per event (the uncached backend's
        // chunked reads are covered by log_test's JetStreamNoCache suite).
        bool trimmed_want = false;
        const std::vector<Event> want = ReadAll(*uncached, patterns, after, 1024, &trimmed_want);
        EXPECT_EQ(Ids(want), brute_force(patterns, after));
        for (size_t chunk : {size_t{1}, size_t{7}, size_t{1024}}) {
          SCOPED_TRACE(absl::StrCat(when, " ", absl::StrJoin(patterns, ","), " after ", after,
                                    " chunk ", chunk));
          // Every read costs a round trip to the server (the stream's state),
          // so one event at a time only near the tail, where a reconnecting
          // cursor reads; deep reads take the same path in chunks of 7.
          if (chunk == 1 && after < last - 150) continue;
          for (Log* log : {cached.get(), small.get(), late.get(), late_small.get()}) {
            bool trimmed = false;
            const std::vector<Event> got = ReadAll(*log, patterns, after, chunk, &trimmed);
            EXPECT_EQ(Ids(got), Ids(want));
            ASSERT_EQ(got.size(), want.size());
            for (size_t i = 0; i < got.size(); ++i) {
              EXPECT_EQ(got[i].topic, want[i].topic);
              EXPECT_EQ(got[i].type, want[i].type);
              EXPECT_EQ(got[i].data, want[i].data);
              EXPECT_EQ(got[i].publish_time, want[i].publish_time);
            }
            EXPECT_EQ(trimmed, trimmed_want);
          }
        }
      }
      // One bounded read: same events, same cursor, same reached_end.
      ReadRequest req;
      req.filter = testing::Filter(patterns);
      req.after_id = last / 2;
      req.up_to_id = last - 10;
      req.max_events = 50;
      absl::StatusOr<ReadResult> b = uncached->Read(req);
      ASSERT_TRUE(b.ok());
      for (Log* log : {cached.get(), late.get()}) {
        absl::StatusOr<ReadResult> a = log->Read(req);
        ASSERT_TRUE(a.ok());
        EXPECT_EQ(Ids(a->events), Ids(b->events));
        EXPECT_EQ(a->reached_end, b->reached_end);
        EXPECT_EQ(a->trimmed, b->trimmed);
        if (a->reached_end) {
          EXPECT_EQ(a->next_after_id, b->next_after_id);
        }
      }
    }
  };
  check("before trim");
  // Trim one topic through the cached node: the cache still holds the
  // removed events, the stream does not; reads must not serve them.
  ASSERT_TRUE(cached->TrimTopic("many.1", last / 2).ok());
  trimmed_many1_through = last / 2;
  check("after trim");
  ASSERT_TRUE(cached->DeleteTopic("single").ok());
  single_deleted = true;
  check("after delete");
}

// Closing a node while its read cache may still be loading the history:
// Close stops the load and waits for it (the load's thread never outlives
// the log), the hook reports the load over exactly once, and the stream is
// untouched.
TEST_F(JetStreamLogTest, CloseStopsTheReadCacheLoad) {
  {
    auto writer = Open();
    for (int round = 0; round < 20; ++round) {
      std::vector<EventInput> batch;
      for (int i = 0; i < 1000; ++i) batch.push_back(Ev(absl::StrCat("t.", i % 10), "x"));
      ASSERT_TRUE(writer->Append(std::move(batch)).ok());
    }
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::atomic<int> reports{0};
    JetStreamLogHooks hooks;
    hooks.cache_filled = [&reports](uint64_t, uint64_t through, size_t) {
      EXPECT_EQ(through, 20000u);
      reports++;
    };
    absl::StatusOr<std::unique_ptr<Log>> log = OpenJetStreamLogWithHooks(options_, js_, hooks);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Close();
    EXPECT_EQ(reports.load(), 1);
    log->reset();
    EXPECT_EQ(reports.load(), 1);
  }
  auto reader = Open();
  EXPECT_EQ(ReadAll(*reader, {"t.3"}, 0, 1024).size(), 2000u);
}

// Reads delete their short-lived pull consumers (without waiting for the
// answer): after many deep reads only the nodes' tail consumers remain.
TEST_F(JetStreamLogTest, ReadsLeaveNoConsumersBehind) {
  js_.read_cache_bytes = 0;  // every read goes to the stream
  auto log = Open();
  std::vector<EventInput> batch;
  for (int i = 0; i < 300; ++i) batch.push_back(Ev(absl::StrCat("t.", i % 7), "x"));
  ASSERT_TRUE(log->Append(std::move(batch)).ok());
  for (const char* p : {"t.1", "t.*", ">"}) {
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(ReadAll(*log, {p}, 0, 50).empty());
  }
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, server_.url().c_str()), NATS_OK);
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
  int64_t consumers = -1;
  for (int i = 0; i < 100; ++i) {  // deletes are asynchronous: poll
    jsStreamInfo* si = nullptr;
    ASSERT_EQ(js_GetStreamInfo(&si, js, "EVENTS", nullptr, nullptr), NATS_OK);
    consumers = si->State.Consumers;
    jsStreamInfo_Destroy(si);
    if (consumers <= 1) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(consumers, 1);  // the tail's ordered consumer
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

}  // namespace
}  // namespace tailgate::store

// The hub and its cursors against an in-memory log: order, the replay-to-
// live handover, slow subscribers, resets and drain.
#include "gateway/core/hub.h"

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include "gateway/core/fake_log.h"

namespace tailgate {
namespace {

namespace net = boost::asio;
using testing::FakeLog;

// One subscription driven from the test thread: each NextBatch asks the
// cursor for one batch (on its strand) and waits for it.
class TestSubscriber {
 public:
  TestSubscriber(Hub* hub, net::io_context* io, std::vector<std::string> patterns,
                 ResumeSpec spec = ResumeSpec{})
      : hub_(hub), strand_(net::make_strand(*io)) {
    std::vector<store::TopicPattern> parsed;
    for (const std::string& p : patterns) parsed.push_back(*store::TopicPattern::Parse(p));
    store::TopicFilter filter(std::move(parsed));
    std::promise<absl::StatusOr<Hub::Start>> started;
    hub_->ResolveStart(spec, filter,
                       [&started](absl::StatusOr<Hub::Start> s) { started.set_value(s); });
    absl::StatusOr<Hub::Start> start = started.get_future().get();
    EXPECT_TRUE(start.ok()) << start.status();
    cursor_ = Cursor::Make(hub_, strand_, std::move(filter), *start);
  }

  ~TestSubscriber() {
    std::promise<void> closed;
    net::post(strand_, [&] {
      cursor_->Close();
      closed.set_value();
    });
    closed.get_future().wait();
  }

  // The next batch, or a batch with DEADLINE_EXCEEDED status after `wait`.
  Cursor::Batch NextBatch(std::chrono::milliseconds wait = std::chrono::seconds(20)) {
    auto got = std::make_shared<std::promise<Cursor::Batch>>();
    std::future<Cursor::Batch> f = got->get_future();
    net::post(strand_, [this, got] {
      cursor_->Next([got](Cursor::Batch b) { got->set_value(std::move(b)); });
    });
    if (f.wait_for(wait) != std::future_status::ready) {
      Cursor::Batch timeout;
      timeout.status = absl::DeadlineExceededError("no batch");
      return timeout;
    }
    return f.get();
  }

  // Ids of the next batches until `count` events arrived.
  std::vector<uint64_t> Ids(size_t count) {
    std::vector<uint64_t> ids;
    while (ids.size() < count) {
      Cursor::Batch b = NextBatch();
      if (!b.status.ok()) {
        ADD_FAILURE() << b.status;
        break;
      }
      for (const EncodedEventPtr& e : b.events) ids.push_back(e->event.id);
    }
    return ids;
  }

 private:
  Hub* const hub_;
  net::strand<net::io_context::executor_type> strand_;
  std::shared_ptr<Cursor> cursor_;
};

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_.emplace(io_.get_executor());
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  void TearDown() override {
    if (hub_) hub_->Stop();
    work_.reset();
    io_.stop();
    for (std::thread& t : threads_) t.join();
  }
  void MakeHub(HubOptions options = HubOptions{}) {
    hub_ = std::make_unique<Hub>(&log_, options);
  }

  FakeLog log_;
  std::unique_ptr<Hub> hub_;
  net::io_context io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

ResumeSpec AfterId(uint64_t id) {
  ResumeSpec spec;
  spec.kind = ResumeSpec::Kind::kAfterId;
  spec.after_id = id;
  return spec;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t id = first; id <= last; ++id) out.push_back(id);
  return out;
}

TEST_F(HubTest, DeliversMatchingEventsInIdOrderOnce) {
  MakeHub();
  TestSubscriber sub(hub_.get(), &io_, {"a.*"}, AfterId(0));
  std::vector<uint64_t> want;
  for (int i = 0; i < 600; ++i) {
    const uint64_t id = log_.Append(i % 3 == 0 ? "b.x" : "a.x", "d");
    if (i % 3 != 0) want.push_back(id);
  }
  EXPECT_EQ(sub.Ids(want.size()), want);
}

TEST_F(HubTest, ReplayThenLiveHasNoGapOrDuplicateAcrossTheHandover) {
  HubOptions options;
  options.cache_events = 64;  // Most of the history is behind the cache.
  options.max_batch_events = 50;
  MakeHub(options);
  for (int i = 0; i < 500; ++i) log_.Append("t", "old");
  TestSubscriber sub(hub_.get(), &io_, {"t"}, AfterId(0));
  // Live events land while the replay is still going.
  std::thread publisher([this] {
    for (int i = 0; i < 500; ++i) log_.Append("t", "new");
  });
  std::vector<uint64_t> ids = sub.Ids(1000);
  publisher.join();
  EXPECT_EQ(ids, Range(1, 1000));
  EXPECT_GT(log_.reads(), 0u);  // The start was served by the store.
  // Caught up: the next event comes live.
  const uint64_t next = log_.Append("t", "live");
  EXPECT_EQ(sub.Ids(1), std::vector<uint64_t>{next});
}

TEST_F(HubTest, SlowSubscriberFallsBehindTheCacheAndCatchesUpFromTheStore) {
  HubOptions options;
  options.cache_events = 16;
  options.max_batch_events = 32;
  MakeHub(options);
  TestSubscriber slow(hub_.get(), &io_, {"s"});
  TestSubscriber fast(hub_.get(), &io_, {"s"});
  // The fast one keeps up; the slow one asks for nothing meanwhile.
  std::vector<uint64_t> fast_ids;
  for (int i = 0; i < 400; ++i) {
    log_.Append("s", "x");
    if (i % 50 == 49) {
      std::vector<uint64_t> got = fast.Ids(static_cast<size_t>(i + 1) - fast_ids.size());
      fast_ids.insert(fast_ids.end(), got.begin(), got.end());
    }
  }
  EXPECT_EQ(fast_ids, Range(1, 400));
  // The slow one never held more than a batch: it reads back from the store,
  // bounded batches, in order.
  const size_t reads_before = log_.reads();
  std::vector<uint64_t> slow_ids;
  bool from_store = false;
  while (slow_ids.size() < 400) {
    Cursor::Batch b = slow.NextBatch();
    ASSERT_TRUE(b.status.ok()) << b.status;
    EXPECT_LE(b.events.size(), options.max_batch_events);
    from_store = from_store || b.from_store;
    for (const EncodedEventPtr& e : b.events) slow_ids.push_back(e->event.id);
  }
  EXPECT_EQ(slow_ids, Range(1, 400));
  EXPECT_TRUE(from_store);
  EXPECT_GT(log_.reads(), reads_before);
}

TEST_F(HubTest, FanOutSharesOneEncodedEventAcrossSubscribers) {
  MakeHub();
  TestSubscriber a(hub_.get(), &io_, {"f"});
  TestSubscriber b(hub_.get(), &io_, {"f.>", "f"});
  log_.Append("f", "shared");
  Cursor::Batch ba = a.NextBatch();
  Cursor::Batch bb = b.NextBatch();
  ASSERT_EQ(ba.events.size(), 1u);
  ASSERT_EQ(bb.events.size(), 1u);
  EXPECT_EQ(ba.events[0].get(), bb.events[0].get());
}

TEST_F(HubTest, ResumingIntoTrimmedHistoryResetsToWhatIsLeft) {
  HubOptions options;
  options.cache_events = 8;
  MakeHub(options);
  for (int i = 0; i < 100; ++i) log_.Append("r", "x");
  log_.TrimThrough(60);
  TestSubscriber sub(hub_.get(), &io_, {"r"}, AfterId(10));
  Cursor::Batch first = sub.NextBatch();
  ASSERT_TRUE(first.status.ok()) << first.status;
  ASSERT_TRUE(first.reset.has_value());
  EXPECT_EQ(first.reset->reason, Reset::Reason::kTrimmed);
  EXPECT_EQ(first.reset->requested, 10u);
  EXPECT_EQ(first.reset->resume, 60u);
  std::vector<uint64_t> ids;
  for (const EncodedEventPtr& e : first.events) ids.push_back(e->event.id);
  std::vector<uint64_t> rest = sub.Ids(40 - ids.size());
  ids.insert(ids.end(), rest.begin(), rest.end());
  EXPECT_EQ(ids, Range(61, 100));
}

TEST_F(HubTest, AnIdNeverAssignedResetsToLive) {
  MakeHub();
  for (int i = 0; i < 5; ++i) log_.Append("u", "x");
  TestSubscriber sub(hub_.get(), &io_, {"u"}, AfterId(1000));
  Cursor::Batch first = sub.NextBatch();
  ASSERT_TRUE(first.reset.has_value());
  EXPECT_EQ(first.reset->reason, Reset::Reason::kUnknownId);
  EXPECT_EQ(first.reset->requested, 1000u);
  EXPECT_EQ(first.reset->resume, 5u);
  EXPECT_TRUE(first.events.empty());
  const uint64_t next = log_.Append("u", "x");
  EXPECT_EQ(sub.Ids(1), std::vector<uint64_t>{next});
}

TEST_F(HubTest, LastNStartsWithTheLatestMatchingEventsThenLive) {
  MakeHub();
  for (int i = 0; i < 20; ++i) log_.Append(i % 2 ? "l.a" : "l.b", "x");
  TestSubscriber sub(hub_.get(), &io_, {"l.a"}, ResumeSpec{ResumeSpec::Kind::kLast, 0, {}, 3});
  EXPECT_EQ(sub.Ids(3), (std::vector<uint64_t>{16, 18, 20}));
}

TEST_F(HubTest, StopEndsAWaitingCursorWithUnavailable) {
  MakeHub();
  TestSubscriber sub(hub_.get(), &io_, {"d"});
  std::future<Cursor::Batch> batch =
      std::async(std::launch::async, [&sub] { return sub.NextBatch(); });
  // Stop once the cursor waits for a commit (the drain path under test).
  while (hub_->cache_stats().waiting == 0) std::this_thread::yield();
  hub_->Stop();
  Cursor::Batch b = batch.get();
  EXPECT_EQ(b.status.code(), absl::StatusCode::kUnavailable) << b.status;
  // And a request after the stop ends the same way at once.
  EXPECT_EQ(sub.NextBatch().status.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tailgate

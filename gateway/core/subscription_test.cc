// The subscription state machine against an in-memory log and a recording
// transport: what is written when, the end after the write in flight, the
// first reason counting, token expiry, revocation, heartbeats, write timeout.
#include "gateway/core/subscription.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gateway/core/fake_log.h"
#include "gateway/core/presence.h"

namespace tailgate {
namespace {

namespace net = boost::asio;
using testing::FakeLog;

const char* Name(EndReason r) {
  switch (r) {
    case EndReason::kClientClosed: return "client_closed";
    case EndReason::kWriteError: return "write_error";
    case EndReason::kWriteTimeout: return "write_timeout";
    case EndReason::kDraining: return "draining";
    case EndReason::kServerError: return "server_error";
    case EndReason::kTokenExpired: return "token_expired";
    case EndReason::kRevoked: return "revoked";
  }
  return "?";
}

// A transport that records each sink call as a line ("open 0",
// "batch 1 2 3", "hb", "end draining started", "close draining") and
// completes writes at once, or holds them until Release().
class RecordingTransport final : public Subscription {
 public:
  RecordingTransport(Hub* hub, net::any_io_executor strand, std::vector<std::string> patterns,
                     SubscriptionOptions options)
      : Subscription(hub, std::move(strand), Filter(patterns), std::move(options)) {}

  void set_hold(bool hold) { hold_ = hold; }  // Before Start.

  // Write* calls so far (each one write on the wire).
  int writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }

  // Lines recorded so far.
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

  // Waits until `pred(calls)` holds (up to 20 s); false on timeout.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return pred(calls_); });
  }
  bool WaitForLine(const std::string& line) {
    return WaitFor([&](const std::vector<std::string>& c) {
      for (const std::string& l : c) {
        if (l == line) return true;
      }
      return false;
    });
  }

  // Completes the held write (on the strand).
  void Release(bool ok = true) {
    net::post(strand(), [this, self = shared_from_this(), ok] {
      if (held_) {
        held_ = false;
        WriteDone(ok);
      }
    });
  }

  // Returns once everything posted to the strand before it has run: what the
  // subscription was going to do by then, it has done.
  void Sync() {
    std::promise<void> done;
    net::post(strand(), [&done] { done.set_value(); });
    done.get_future().wait();
  }

  void Post(std::function<void(RecordingTransport*)> fn) {
    net::post(strand(), [this, self = shared_from_this(), fn = std::move(fn)] { fn(this); });
  }

 private:
  static store::TopicFilter Filter(const std::vector<std::string>& patterns) {
    std::vector<store::TopicPattern> parsed;
    for (const std::string& p : patterns) parsed.push_back(*store::TopicPattern::Parse(p));
    return store::TopicFilter(std::move(parsed));
  }

  void CountWrite() {
    std::lock_guard lock(mu_);
    ++writes_;
  }

  void Record(std::string line) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(line));
    cv_.notify_all();
  }

  void Complete() {
    if (hold_) {
      held_ = true;
      return;
    }
    WriteDone(true);
  }

  static std::string BatchLine(const Cursor::Batch& batch) {
    std::string line = "batch";
    if (batch.reset) absl::StrAppend(&line, " reset>", batch.reset->resume);
    for (const EncodedEventPtr& e : batch.events) absl::StrAppend(&line, " ", e->event.id);
    if (batch.live) absl::StrAppend(&line, " live");
    return line;
  }

  // The opening and a first batch in one write: two lines, one write.
  void WriteOpening(uint64_t position, std::optional<Cursor::Batch> first) override {
    CountWrite();
    Record(absl::StrCat("open ", position));
    if (first) Record(BatchLine(*first));
    Complete();
  }
  void WriteBatch(Cursor::Batch batch) override {
    CountWrite();
    Record(BatchLine(batch));
    Complete();
  }
  void WriteHeartbeat() override {
    CountWrite();
    Record("hb");
    Complete();
  }
  void WriteEnd(const Ending& ending) override {
    CountWrite();
    Record(absl::StrCat("end ", Name(ending.reason), ending.started ? " started" : " unstarted",
                        ending.status.ok() ? "" : " ",
                        ending.status.ok() ? "" : absl::StatusCodeToString(ending.status.code())));
    WriteDone(true);
  }
  void CloseTransport(const Ending& ending) override {
    Record(absl::StrCat("close ", Name(ending.reason)));
  }

  bool hold_ = false;
  bool held_ = false;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> calls_;
  int writes_ = 0;
};

class SubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_.emplace(io_.get_executor());
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
    hub_ = std::make_unique<Hub>(&log_, HubOptions{});
  }
  void TearDown() override {
    hub_->Stop();
    work_.reset();
    io_.stop();
    for (std::thread& t : threads_) t.join();
  }

  std::shared_ptr<RecordingTransport> Make(std::vector<std::string> patterns,
                                           SubscriptionOptions options = {},
                                           bool hold = false) {
    auto t = std::make_shared<RecordingTransport>(hub_.get(), net::make_strand(io_),
                                                  std::move(patterns), std::move(options));
    t->set_hold(hold);
    return t;
  }
  static void Start(const std::shared_ptr<RecordingTransport>& t) {
    t->Post([](RecordingTransport* s) { s->Start(); });
  }

  FakeLog log_;
  std::unique_ptr<Hub> hub_;
  net::io_context io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

SubscriptionOptions After(uint64_t id) {
  SubscriptionOptions o;
  o.resume.kind = ResumeSpec::Kind::kAfterId;
  o.resume.after_id = id;
  return o;
}

using Lines = std::vector<std::string>;

TEST_F(SubscriptionTest, OpensThenReplaysThenLiveTailsInOrder) {
  log_.Append("a", "1");
  log_.Append("b", "2");
  log_.Append("a", "3");
  SubscriptionOptions o = After(1);
  o.live_marker = true;
  auto t = Make({"a"}, o);
  Start(t);
  ASSERT_TRUE(t->WaitForLine("batch 3 live"));
  log_.Append("a", "4");
  ASSERT_TRUE(t->WaitForLine("batch 4"));
  EXPECT_EQ(t->calls(), (Lines{"open 1", "batch 3 live", "batch 4"}));
  t->Post([](RecordingTransport* s) { s->PeerClosed(); });
  ASSERT_TRUE(t->WaitForLine("close client_closed"));
}

// A resume the tail cache can answer at once: the opening and the replay
// go out in one write (the common reconnect); later batches each in their own.
TEST_F(SubscriptionTest, OpeningAndAFirstBatchAtHandAreOneWrite) {
  log_.Append("a", "1");
  log_.Append("a", "2");
  auto t = Make({"a"}, After(1));
  Start(t);
  ASSERT_TRUE(t->WaitForLine("batch 2"));
  t->Sync();
  EXPECT_EQ(t->calls(), (Lines{"open 1", "batch 2"}));
  EXPECT_EQ(t->writes(), 1);
  log_.Append("a", "3");
  ASSERT_TRUE(t->WaitForLine("batch 3"));
  EXPECT_EQ(t->writes(), 2);
  t->Post([](RecordingTransport* s) { s->PeerClosed(); });
  ASSERT_TRUE(t->WaitForLine("close client_closed"));
}

// Nothing to send yet: the opening goes out alone at once (the client sees
// the stream open), and a drain before any event still ends it properly.
TEST_F(SubscriptionTest, OpeningGoesAloneWhenNothingIsThere) {
  auto t = Make({"a"}, After(0));
  Start(t);
  ASSERT_TRUE(t->WaitForLine("open 0"));
  t->Sync();
  EXPECT_EQ(t->calls(), (Lines{"open 0"}));
  EXPECT_EQ(t->writes(), 1);
  t->Post([](RecordingTransport* s) { s->Drain(); });
  ASSERT_TRUE(t->WaitForLine("close draining"));
  EXPECT_EQ(t->calls(), (Lines{"open 0", "end draining started", "close draining"}));
}

TEST_F(SubscriptionTest, DrainEndsAfterTheWriteInFlightWithTheLastIdAsHint) {
  auto t = Make({"a"}, After(0), /*hold=*/true);
  Start(t);
  ASSERT_TRUE(t->WaitForLine("open 0"));
  t->Release();
  log_.Append("a", "1");
  ASSERT_TRUE(t->WaitForLine("batch 1"));  // Held: in flight.
  log_.Append("a", "2");                     // Read while the write is in flight.
  t->Post([](RecordingTransport* s) { s->Drain(); });
  // Nothing ends while the write is in flight.
  t->Sync();
  EXPECT_EQ(t->calls(), (Lines{"open 0", "batch 1"}));
  t->Release();
  ASSERT_TRUE(t->WaitForLine("close draining"));
  // Event 2 was read (or would be) but the end was decided first: not written.
  EXPECT_EQ(t->calls(), (Lines{"open 0", "batch 1", "end draining started", "close draining"}));
  uint64_t hint = 0;
  std::promise<void> got;
  t->Post([&](RecordingTransport* s) {
    hint = s->resume_hint();
    got.set_value();
  });
  got.get_future().wait();
  EXPECT_EQ(hint, 1u);
}

TEST_F(SubscriptionTest, DrainBeforeTheStartClosesWithoutWriting) {
  auto t = Make({"a"}, After(0));
  t->Post([](RecordingTransport* s) {
    s->Drain();
    s->Start();
  });
  ASSERT_TRUE(t->WaitForLine("close draining"));
  t->Sync();  // The start resolved meanwhile (posted by Start) has run too.
  EXPECT_EQ(t->calls(), (Lines{"close draining"}));
}

TEST_F(SubscriptionTest, FirstReasonCounts) {
  auto t = Make({"a"}, After(0), /*hold=*/true);
  Start(t);
  ASSERT_TRUE(t->WaitForLine("open 0"));
  t->Post([](RecordingTransport* s) {
    s->Revoke(absl::PermissionDeniedError("pattern revoked"));
    s->Drain();
  });
  t->Release();
  ASSERT_TRUE(t->WaitForLine("close revoked"));
  EXPECT_EQ(t->calls(),
            (Lines{"open 0", "end revoked started PERMISSION_DENIED", "close revoked"}));
}

TEST_F(SubscriptionTest, TokenExpiryEndsTheStreamAndWritesNothingReadAfterIt) {
  SubscriptionOptions o = After(0);
  o.valid_until = absl::Now() + absl::Milliseconds(300);
  auto t = Make({"a"}, o);
  Start(t);
  ASSERT_TRUE(t->WaitForLine("open 0"));
  log_.Append("a", "1");
  ASSERT_TRUE(t->WaitForLine("batch 1"));
  ASSERT_TRUE(t->WaitForLine("close token_expired"));
  log_.Append("a", "2");
  t->Sync();
  EXPECT_EQ(t->calls(),
            (Lines{"open 0", "batch 1", "end token_expired started", "close token_expired"}));
}

TEST_F(SubscriptionTest, ATokenExpiringDuringAWriteEndsTheStreamAfterIt) {
  SubscriptionOptions o = After(0);
  o.valid_until = absl::Now() + absl::Milliseconds(300);
  auto t = Make({"a"}, o, /*hold=*/true);
  Start(t);
  ASSERT_TRUE(t->WaitForLine("open 0"));
  t->Release();
  log_.Append("a", "1");
  ASSERT_TRUE(t->WaitForLine("batch 1"));  // In flight past the deadline.
  log_.Append("a", "2");
  // Past the token's deadline (a clock condition, nothing to wait on).
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  t->Release();
  ASSERT_TRUE(t->WaitForLine("close token_expired"));
  EXPECT_EQ(t->calls(),
            (Lines{"open 0", "batch 1", "end token_expired started", "close token_expired"}));
}

TEST_F(SubscriptionTest, HeartbeatsWhenIdle) {
  SubscriptionOptions o = After(0);
  o.heartbeat = absl::Milliseconds(50);
  auto t = Make({"a"}, o);
  Start(t);
  ASSERT_TRUE(t->WaitFor([](const Lines& c) { return c.size() >= 3; }));
  const Lines c = t->calls();
  EXPECT_EQ(c[0], "open 0");
  EXPECT_EQ(c[1], "hb");
  EXPECT_EQ(c[2], "hb");
  t->Post([](RecordingTransport* s) { s->PeerClosed(); });
  ASSERT_TRUE(t->WaitForLine("close client_closed"));
}

TEST_F(SubscriptionTest, AWriteThatDoesNotCompleteTimesOutAndClosesAtOnce) {
  SubscriptionOptions o = After(0);
  o.write_timeout = absl::Milliseconds(100);
  auto t = Make({"a"}, o, /*hold=*/true);
  Start(t);
  ASSERT_TRUE(t->WaitForLine("close write_timeout"));
  EXPECT_EQ(t->calls(), (Lines{"open 0", "close write_timeout"}));
}

TEST_F(SubscriptionTest, AFailedWriteClosesWithoutAnEnd) {
  auto t = Make({"a"}, After(0), /*hold=*/true);
  Start(t);
  ASSERT_TRUE(t->WaitForLine("open 0"));
  t->Release(/*ok=*/false);
  ASSERT_TRUE(t->WaitForLine("close write_error"));
  EXPECT_EQ(t->calls(), (Lines{"open 0", "close write_error"}));
}

TEST_F(SubscriptionTest, AStartThatCannotBeResolvedEndsUnstartedWithItsStatus) {
  hub_->Stop();  // Store lookups now answer UNAVAILABLE.
  SubscriptionOptions o;
  o.resume.kind = ResumeSpec::Kind::kEarliest;
  auto t = Make({"a"}, o);
  Start(t);
  ASSERT_TRUE(t->WaitForLine("close draining"));
  EXPECT_EQ(t->calls(), (Lines{"end draining unstarted UNAVAILABLE", "close draining"}));
}

TEST_F(SubscriptionTest, RegistersWithPresenceAndARevocationEndsIt) {
  StreamRegistry registry(nullptr);
  SubscriptionOptions o = After(0);
  o.presence = &registry;
  o.stream.subject = "alice";
  o.stream.protocol = "test";
  auto t = Make({"a.>"}, o);
  Start(t);
  ASSERT_TRUE(t->WaitForLine("open 0"));
  log_.Append("a.x", "1");
  ASSERT_TRUE(t->WaitForLine("batch 1"));
  std::vector<StreamSnapshot> listed = registry.List("", nullptr);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].info.subject, "alice");
  EXPECT_EQ(listed[0].patterns.size(), 1u);
  EXPECT_EQ(registry.EndSubject("alice", absl::UnauthenticatedError("subject revoked")), 1u);
  ASSERT_TRUE(t->WaitForLine("close revoked"));
  EXPECT_EQ(t->calls(), (Lines{"open 0", "batch 1", "end revoked started UNAUTHENTICATED",
                               "close revoked"}));
  EXPECT_EQ(registry.size(), 0u);  // Off the registry once closed.
}

}  // namespace
}  // namespace tailgate

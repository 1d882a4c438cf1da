// tailgate.v1.Subscriber.Subscribe: the gRPC front end on the same hub as SSE.
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tailgate/v1/subscriber.grpc.pb.h"
#include "tests/sse/sse_testing.h"

namespace tailgate::testing {
namespace {

class SubscribeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gw_ = StartGateway(SseTestConfig());
    ASSERT_NE(gw_, nullptr);
    channel_ = grpc::CreateChannel(gw_->grpc_address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Subscriber::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientReader<v1::Event>> Subscribe(grpc::ClientContext* ctx,
                                                           const v1::SubscribeRequest& req) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->Subscribe(ctx, req);
  }

  // Whether `s` is the drain's own status (the one that carries the resume
  // hint). gRPC closes a drained server's connections as soon as its calls
  // are done; a client still reading what was written before it (slowly,
  // under the sanitizers) can then get a reset from its transport instead of
  // the status. It loses nothing (it resumes after the last event it got),
  // but the hint cannot be checked.
  static bool IsDrainStatus(const grpc::Status& s) {
    return s.error_code() == grpc::StatusCode::UNAVAILABLE &&
           s.error_message().rfind("server is draining", 0) == 0;
  }

  // Runs `drain_case` (which drains the gateway and sets the status its
  // stream ended with), on a new gateway again each time that status is not
  // the drain's own, up to 5 times. Returns the drain's status; nullopt when
  // the case failed fatally or no attempt got it (the test has failed then).
  std::optional<grpc::Status> UntilDrainStatus(
      const std::function<void(grpc::Status*)>& drain_case) {
    constexpr int kAttempts = 5;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      if (attempt > 0) {
        gw_.reset();
        SetUp();
        if (HasFatalFailure()) return std::nullopt;
      }
      grpc::Status s;
      drain_case(&s);
      if (HasFatalFailure()) return std::nullopt;
      if (IsDrainStatus(s)) return s;
      std::cerr << "attempt " << attempt << ": no drain status: " << s.error_message() << "\n";
    }
    ADD_FAILURE() << "no attempt received the drain's status";
    return std::nullopt;
  }

  std::unique_ptr<Gateway> gw_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Subscriber::Stub> stub_;
};

TEST_F(SubscribeTest, ResumesAfterIdThenGoesLive) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Publish(*gw_, "s.a", absl::StrCat("e", i), "kind"));
  Publish(*gw_, "other", "x");
  v1::SubscribeRequest req;
  req.add_topics("s.*");
  req.set_after_id(ids[1]);
  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, req);
  v1::Event e;
  for (int i = 2; i < 5; ++i) {
    ASSERT_TRUE(reader->Read(&e));
    EXPECT_EQ(e.id(), ids[i]);
    EXPECT_EQ(e.topic(), "s.a");
    EXPECT_EQ(e.type(), "kind");
    EXPECT_EQ(e.data(), absl::StrCat("e", i));
    EXPECT_GT(e.publish_time_unix_micros(), 0);
  }
  const uint64_t live = Publish(*gw_, "s.b", "live");
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.id(), live);
  ctx.TryCancel();
  while (reader->Read(&e)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(SubscribeTest, SinceEarliestAndUnknownIdReset) {
  const uint64_t first = Publish(*gw_, "h", "one");
  {
    v1::SubscribeRequest req;
    req.add_topics("h");
    req.set_since("earliest");
    grpc::ClientContext ctx;
    auto reader = Subscribe(&ctx, req);
    v1::Event e;
    ASSERT_TRUE(reader->Read(&e));
    EXPECT_EQ(e.id(), first);
    ctx.TryCancel();
  }
  {
    v1::SubscribeRequest req;
    req.add_topics("h");
    req.set_after_id(1'000'000);
    grpc::ClientContext ctx;
    auto reader = Subscribe(&ctx, req);
    v1::Event e;
    ASSERT_TRUE(reader->Read(&e));
    EXPECT_EQ(e.type(), "tailgate.reset");
    EXPECT_EQ(e.reset().reason(), "unknown_id");
    EXPECT_EQ(e.reset().requested(), 1'000'000u);
    EXPECT_EQ(e.reset().resume(), first);
    EXPECT_EQ(e.id(), first);
    const uint64_t next = Publish(*gw_, "h", "two");
    ASSERT_TRUE(reader->Read(&e));
    EXPECT_EQ(e.id(), next);
    ctx.TryCancel();
  }
}

TEST_F(SubscribeTest, InvalidRequestsNameTheField) {
  struct Case {
    v1::SubscribeRequest req;
    std::string message;
  };
  std::vector<Case> cases(4);
  cases[0].message = "topics: at least one";
  cases[1].req.add_topics("ok");
  cases[1].req.add_topics("bad..x");
  cases[1].message = "topics[1]: pattern has an empty token";
  for (int i = 0; i < 17; ++i) cases[2].req.add_topics(absl::StrCat("t", i));
  cases[2].message = "at most 16";
  cases[3].req.add_topics("x");
  cases[3].req.set_since("tomorrow");
  cases[3].message = "since: want";
  for (const Case& c : cases) {
    grpc::ClientContext ctx;
    auto reader = Subscribe(&ctx, c.req);
    v1::Event e;
    EXPECT_FALSE(reader->Read(&e));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_NE(s.error_message().find(c.message), std::string::npos) << s.error_message();
  }
}

TEST_F(SubscribeTest, DrainEndsStreamsWithUnavailable) {
  uint64_t id = 0;
  const std::optional<grpc::Status> s = UntilDrainStatus([&](grpc::Status* status) {
    id = Publish(*gw_, "d", "x");
    v1::SubscribeRequest req;
    req.add_topics("d");
    req.set_after_id(0);
    grpc::ClientContext ctx;
    auto reader = Subscribe(&ctx, req);
    v1::Event e;
    ASSERT_TRUE(reader->Read(&e));
    EXPECT_EQ(e.id(), id);
    const absl::Time start = absl::Now();
    std::thread stopper([&] { gw_->Shutdown(); });
    EXPECT_FALSE(reader->Read(&e));
    *status = reader->Finish();
    stopper.join();
    EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE) << status->error_message();
    EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  });
  if (!s) return;
  EXPECT_NE(s->error_message().find(absl::StrCat("after_id=", id)), std::string::npos)
      << s->error_message();
}

TEST_F(SubscribeTest, DrainHintNeverSkipsQueuedEvents) {
  // Enough events that the stream has a queue of read-but-unwritten ones
  // when the drain comes: the resume hint must be the last id the client
  // received, not how far the cursor read.
  uint64_t last = 0;
  const std::optional<grpc::Status> s = UntilDrainStatus([&](grpc::Status* status) {
    std::vector<store::EventInput> batch;
    for (int i = 0; i < 2000; ++i) {
      store::EventInput in;
      in.topic = "q";
      in.data = std::string(200, 'x');
      batch.push_back(std::move(in));
    }
    ASSERT_TRUE(AppendAndWait(*gw_->log(), std::move(batch)).ok());
    v1::SubscribeRequest req;
    req.add_topics("q");
    req.set_after_id(0);
    grpc::ClientContext ctx;
    auto reader = Subscribe(&ctx, req);
    v1::Event e;
    ASSERT_TRUE(reader->Read(&e));
    last = e.id();
    std::thread stopper([&] { gw_->Shutdown(); });
    while (reader->Read(&e)) {
      EXPECT_EQ(e.id(), last + 1);
      last = e.id();
    }
    *status = reader->Finish();
    stopper.join();
    ASSERT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE) << status->error_message();
  });
  if (!s) return;
  EXPECT_NE(s->error_message().find(absl::StrCat("after_id=", last)), std::string::npos)
      << "last received " << last << ": " << s->error_message();
}

}  // namespace
}  // namespace tailgate::testing

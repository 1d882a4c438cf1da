// PublisherService against a log whose appends complete only when the test
// says so: cancellation, deadlines and draining while appends are in flight,
// late append callbacks, store errors, and the per-stream in-flight bound.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "gateway/config.h"
#include "gateway/publisher_service.h"
#include "gtest/gtest.h"
#include "store/log.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/publish/publish_testing.h"

namespace tailgate {
namespace {

using ::tailgate::testing::In;
using ::tailgate::testing::Req;
using std::chrono::milliseconds;

// Holds every append until Complete/Fail; assigns ids 1, 2, ... in append order.
class HeldLog final : public store::Log {
 public:
  void AppendAsync(std::vector<store::EventInput> events, AppendCallback done) override {
    absl::MutexLock lock(&mu_);
    held_.push_back({std::move(events), std::move(done)});
    ++appended_;
    max_outstanding_ = std::max(max_outstanding_, held_.size());
  }

  // Blocks until `n` appends arrived in total.
  void WaitForAppends(size_t n) {
    struct Arg {
      HeldLog* log;
      size_t n;
    } arg{this, n};
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->log->appended_ >= a->n; }, &arg));
  }

  // Completes every held append, successfully or with `error`.
  void CompleteAll(absl::Status error = absl::OkStatus()) {
    std::vector<Held> held;
    std::vector<absl::StatusOr<std::vector<store::AppendResult>>> results;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
      for (Held& h : held) {
        if (!error.ok()) {
          results.push_back(error);
          continue;
        }
        std::vector<store::AppendResult> r;
        for (size_t i = 0; i < h.events.size(); ++i) r.push_back({++last_id_, false});
        results.push_back(std::move(r));
      }
    }
    for (size_t i = 0; i < held.size(); ++i) held[i].done(std::move(results[i]));
  }

  size_t max_outstanding() {
    absl::MutexLock lock(&mu_);
    return max_outstanding_;
  }

  uint64_t Watermark() const override { return 0; }
  uint64_t LastAssignedId() const override { return 0; }
  uint64_t AddCommitListener(CommitListener) override { return 0; }
  void RemoveCommitListener(uint64_t) override {}
  absl::StatusOr<store::ReadResult> Read(const store::ReadRequest&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<uint64_t> CursorAtTime(absl::Time) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<uint64_t> EarliestCursor(const store::TopicFilter&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<uint64_t> CursorBeforeLast(const store::TopicFilter&, size_t, uint64_t) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<store::TopicInfo>> ListTopics(const store::TopicFilter&) override {
    return absl::UnimplementedError("");
  }
  absl::Status TrimTopic(std::string_view, uint64_t) override {
    return absl::UnimplementedError("");
  }
  absl::Status DeleteTopic(std::string_view) override { return absl::UnimplementedError(""); }
  absl::Status EnforceRetention() override { return absl::UnimplementedError(""); }
  absl::Status Checkpoint(const std::string&) override { return absl::UnimplementedError(""); }
  absl::StatusOr<store::LogStats> Stats() override { return absl::UnimplementedError(""); }
  void Close() override {}

 private:
  struct Held {
    std::vector<store::EventInput> events;
    AppendCallback done;
  };
  absl::Mutex mu_;
  std::vector<Held> held_ ABSL_GUARDED_BY(mu_);
  size_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
};

class PublisherServiceTest : public ::testing::Test {
 protected:
  void Start(PublishConfig config = {}) {
    service_ = std::make_unique<PublisherService>(&log_, config);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = v1::Publisher::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                       grpc::InsecureChannelCredentials()));
  }

  void SetUp() override { Start(); }

  void TearDown() override {
    // Any append still held completes now, after its RPC may be long gone.
    log_.CompleteAll();
    if (server_) {
      server_->Shutdown(In(milliseconds(5000)));
      server_->Wait();
    }
    log_.CompleteAll();
  }

  void Restart(PublishConfig config) {
    server_->Shutdown();
    server_->Wait();
    server_.reset();
    Start(config);
  }

  HeldLog log_;
  std::unique_ptr<PublisherService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Publisher::Stub> stub_;
};

TEST_F(PublisherServiceTest, UnaryAckArrivesOnlyAfterTheAppendCompletes) {
  grpc::Status status;
  v1::PublishResponse res;
  std::thread client([&] {
    grpc::ClientContext ctx;
    status = stub_->Publish(&ctx, Req("t", "d"), &res);
  });
  log_.WaitForAppends(1);
  log_.CompleteAll();
  client.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(res.id(), 1u);
}

TEST_F(PublisherServiceTest, CancelledUnaryFinishesAndTheLateAppendCallbackIsHarmless) {
  grpc::ClientContext ctx;
  grpc::Status status;
  std::thread client([&] {
    v1::PublishResponse res;
    status = stub_->Publish(&ctx, Req("t", "d"), &res);
  });
  log_.WaitForAppends(1);
  ctx.TryCancel();
  client.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  // Shutting the server down needs every RPC finished (OnDone) although the
  // append is still held; its callback then runs on a finished call.
  server_->Shutdown(In(milliseconds(5000)));
  server_->Wait();
  server_.reset();
  log_.CompleteAll();
}

TEST_F(PublisherServiceTest, DeadlineExceededWhileAppendPendingFinishesTheCall) {
  grpc::ClientContext ctx;
  ctx.set_deadline(In(milliseconds(100)));
  v1::PublishBatchRequest batch;
  *batch.add_events() = Req("t", "a");
  *batch.add_events() = Req("t", "b");
  v1::PublishBatchResponse res;
  grpc::Status status = stub_->PublishBatch(&ctx, batch, &res);  // The log never answers.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  log_.WaitForAppends(1);
  server_->Shutdown(In(milliseconds(5000)));
  server_->Wait();
  server_.reset();
  log_.CompleteAll();
}

TEST_F(PublisherServiceTest, CancelledStreamWithAppendsInFlightFinishes) {
  grpc::ClientContext ctx;
  auto stream = stub_->PublishStream(&ctx);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(stream->Write(Req("t", std::to_string(i))));
  log_.WaitForAppends(5);
  ctx.TryCancel();
  v1::PublishResponse res;
  while (stream->Read(&res)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  server_->Shutdown(In(milliseconds(5000)));
  server_->Wait();
  server_.reset();
  log_.CompleteAll();
}

TEST_F(PublisherServiceTest, StreamDeadlineWithAppendsInFlightFinishes) {
  grpc::ClientContext ctx;
  ctx.set_deadline(In(milliseconds(200)));
  auto stream = stub_->PublishStream(&ctx);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Write(Req("t", std::to_string(i))));
  log_.WaitForAppends(3);
  v1::PublishResponse res;
  while (stream->Read(&res)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  log_.CompleteAll();
}

TEST_F(PublisherServiceTest, DrainingRejectsNewRpcsWithUnavailable) {
  service_->StartDraining();
  service_->StartDraining();  // Idempotent.
  EXPECT_TRUE(service_->draining());
  {
    grpc::ClientContext ctx;
    v1::PublishResponse res;
    grpc::Status s = stub_->Publish(&ctx, Req("t", "d"), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_message(), "server is draining");
  }
  {
    grpc::ClientContext ctx;
    v1::PublishBatchRequest batch;
    *batch.add_events() = Req("t", "d");
    v1::PublishBatchResponse res;
    grpc::Status s = stub_->PublishBatch(&ctx, batch, &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_message(), "server is draining");
  }
  {
    grpc::ClientContext ctx;
    auto stream = stub_->PublishStream(&ctx);
    stream->Write(Req("t", "d"));
    v1::PublishResponse res;
    EXPECT_FALSE(stream->Read(&res));
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_message(), "server is draining");
  }
}

TEST_F(PublisherServiceTest, DrainingStreamWritesTheAcksInFlightThenUnavailable) {
  grpc::ClientContext ctx;
  auto stream = stub_->PublishStream(&ctx);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Write(Req("t", std::to_string(i))));
  log_.WaitForAppends(3);
  service_->StartDraining();
  log_.CompleteAll();
  std::vector<uint64_t> ids;
  v1::PublishResponse res;
  while (stream->Read(&res)) ids.push_back(res.id());
  grpc::Status s = stream->Finish();
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(),
            "server is draining: requests from request[3] on were not accepted; every earlier "
            "request is acknowledged");
}

TEST_F(PublisherServiceTest, DrainingStreamThatHalfClosedFinishesOk) {
  grpc::ClientContext ctx;
  auto stream = stub_->PublishStream(&ctx);
  ASSERT_TRUE(stream->Write(Req("t", "0")));
  ASSERT_TRUE(stream->WritesDone());
  log_.WaitForAppends(1);
  // The half-close may or may not have reached the server yet; both are fine,
  // but the ack in flight is always delivered first.
  service_->StartDraining();
  log_.CompleteAll();
  v1::PublishResponse res;
  ASSERT_TRUE(stream->Read(&res));
  EXPECT_EQ(res.id(), 1u);
  EXPECT_FALSE(stream->Read(&res));
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(PublisherServiceTest, StoreErrorsMapToGrpcStatus) {
  {
    grpc::Status status;
    std::thread client([&] {
      grpc::ClientContext ctx;
      v1::PublishResponse res;
      status = stub_->Publish(&ctx, Req("t", "d"), &res);
    });
    log_.WaitForAppends(1);
    log_.CompleteAll(absl::InternalError("append: disk on fire"));
    client.join();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(status.error_message(), "append: disk on fire");
  }
  {
    grpc::ClientContext ctx;
    auto stream = stub_->PublishStream(&ctx);
    ASSERT_TRUE(stream->Write(Req("t", "0")));
    log_.WaitForAppends(2);
    log_.CompleteAll();
    v1::PublishResponse res;
    ASSERT_TRUE(stream->Read(&res));
    ASSERT_TRUE(stream->Write(Req("t", "1")));
    log_.WaitForAppends(3);
    log_.CompleteAll(absl::UnavailableError("log is closed"));
    EXPECT_FALSE(stream->Read(&res));
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_message(), "request[1]: log is closed");
  }
}

TEST_F(PublisherServiceTest, StreamNeverHasMoreThanMaxInflightAppends) {
  PublishConfig config;
  config.max_inflight_per_stream = 4;
  Restart(config);
  grpc::ClientContext ctx;
  auto stream = stub_->PublishStream(&ctx);
  std::thread writer([&] {
    for (int i = 0; i < 12; ++i) ASSERT_TRUE(stream->Write(Req("t", std::to_string(i))));
    stream->WritesDone();
  });
  std::vector<uint64_t> ids;
  for (size_t n = 4; n <= 12; n += 4) {
    log_.WaitForAppends(n);
    log_.CompleteAll();
    v1::PublishResponse res;
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(stream->Read(&res));
      ids.push_back(res.id());
    }
  }
  writer.join();
  v1::PublishResponse res;
  EXPECT_FALSE(stream->Read(&res));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(ids.size(), 12u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], i + 1);
  EXPECT_LE(log_.max_outstanding(), 4u);
}

}  // namespace
}  // namespace tailgate

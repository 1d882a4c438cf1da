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
#include "gateway/grpc/publisher_service.h"
#include "gtest/gtest.h"
#include "store/log.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/publish/held_log.h"
#include "tests/publish/publish_testing.h"

namespace tailgate {
namespace {

using ::tailgate::testing::In;
using ::tailgate::testing::Req;
using std::chrono::milliseconds;

using ::tailgate::testing::HeldLog;

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

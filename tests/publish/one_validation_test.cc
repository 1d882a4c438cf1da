// One event with several bad fields gets the same error on every way in:
// gRPC Publish, PublishBatch and PublishStream, POST /v1/publish (lone and
// batch) and the log's own Append. All of them call store::ValidateEvent,
// which checks topic, type, idempotency_key, data in that order; this pins
// that order, so a path that validates on its own again shows up here.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gateway/server/gateway.h"
#include "gtest/gtest.h"
#include "store/event_validation.h"
#include "store/log.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/publish/publish_testing.h"
#include "tests/testing/http_client.h"

namespace tailgate::testing {
namespace {

using std::chrono::milliseconds;

constexpr size_t kMaxData = 10;

struct BadEvent {
  const char* name;
  v1::PublishRequest request;
  std::string json;  // The same event as a POST /v1/publish object.
  absl::StatusCode code;
  std::string message;  // For a lone event; in a list it gets the place prefix.
};

std::string KeySpace() {
  return "idempotency_key: idempotency_key has invalid byte 0x20 at byte 1 (allowed: printable "
         "ASCII, no space)";
}

// Every case has a bad data field and an earlier bad field: the earlier one
// wins everywhere. (Data that is not UTF-8 cannot travel in JSON, so the bad
// data is a NUL or an oversize.)
std::vector<BadEvent> Cases() {
  return {
      {"KeyBeforeNulData", Req("t", std::string("x\0y", 3), "", "a b"),
       R"({"topic":"t","data":"x\u0000y","idempotency_key":"a b"})",
       absl::StatusCode::kInvalidArgument, KeySpace()},
      {"KeyBeforeOversizedData", Req("t", std::string(kMaxData + 1, 'x'), "", "a b"),
       absl::StrCat(R"({"topic":"t","data":")", std::string(kMaxData + 1, 'x'),
                    R"(","idempotency_key":"a b"})"),
       absl::StatusCode::kInvalidArgument, KeySpace()},
      {"TypeBeforeKeyAndData", Req("t", std::string("\0", 1), "x y", "a b"),
       R"({"topic":"t","type":"x y","data":"\u0000","idempotency_key":"a b"})",
       absl::StatusCode::kInvalidArgument,
       "type: type has invalid byte 0x20 at byte 1 (allowed: A-Z a-z 0-9 _ . : -)"},
      {"TopicBeforeEverything", Req("a..b", std::string("\0", 1), "x y", "a b"),
       R"({"topic":"a..b","type":"x y","data":"\u0000","idempotency_key":"a b"})",
       absl::StatusCode::kInvalidArgument,
       "topic: topic has an empty token at byte 2 (tokens are separated by single dots)"},
  };
}

class OneValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Config config = LoopbackConfig("one_validation");
    config.publish.max_data_bytes = kMaxData;
    config.publish.http_mode = PublishConfig::HttpMode::kOpen;
    absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(config);
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = *std::move(gw);
    channel_ = grpc::CreateChannel(gateway_->grpc_address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Publisher::NewStub(channel_);
  }

  absl::Status Publish(const v1::PublishRequest& req) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(milliseconds(10000)));
    v1::PublishResponse res;
    return FromGrpc(stub_->Publish(&ctx, req, &res));
  }

  absl::Status Batch(const v1::PublishRequest& bad) {
    v1::PublishBatchRequest req;
    *req.add_events() = Req("ok", "1");
    *req.add_events() = bad;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(milliseconds(10000)));
    v1::PublishBatchResponse res;
    return FromGrpc(stub_->PublishBatch(&ctx, req, &res));
  }

  // A good request, then the bad one: the stream fails at request[1].
  absl::Status Stream(const v1::PublishRequest& bad) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(milliseconds(10000)));
    auto stream = stub_->PublishStream(&ctx);
    std::thread writer([&] {
      if (stream->Write(Req("ok", "1"))) stream->Write(bad);
      stream->WritesDone();
    });
    v1::PublishResponse res;
    while (stream->Read(&res)) {
    }
    writer.join();
    return FromGrpc(stream->Finish());
  }

  // The HTTP error as a Status: the code name is checked against `want`,
  // the message is returned JSON-unescaped (none of the messages here needs
  // escaping, so it is the text between the quotes).
  std::string HttpMessage(const std::string& body, absl::StatusCode want, int* http_status) {
    absl::StatusOr<HttpResult> r =
        HttpFetch("127.0.0.1", gateway_->http_port(), "POST", "/v1/publish",
                  {{"Content-Type", "application/json"}}, body);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    *http_status = r->status;
    const std::string code = absl::StrCat("\"code\":\"", want == absl::StatusCode::kInvalidArgument
                                                             ? "INVALID_ARGUMENT"
                                                             : "RESOURCE_EXHAUSTED",
                                          "\"");
    EXPECT_NE(r->body.find(code), std::string::npos) << r->body;
    const std::string key = "\"message\":\"";
    const size_t at = r->body.find(key);
    const size_t end = r->body.rfind("\"}}");
    if (at == std::string::npos || end == std::string::npos) return r->body;
    return r->body.substr(at + key.size(), end - at - key.size());
  }

  static absl::Status FromGrpc(const grpc::Status& s) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }

  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Publisher::Stub> stub_;
};

store::EventInput Input(const v1::PublishRequest& r) {
  return store::EventInput{r.topic(), r.type(), r.data(), r.idempotency_key()};
}

TEST_F(OneValidationTest, SeveralBadFieldsGetTheSameErrorOnEveryPath) {
  for (const BadEvent& c : Cases()) {
    SCOPED_TRACE(c.name);
    const absl::Status lone(c.code, c.message);
    const absl::Status in_batch(c.code, "events[1]." + c.message);

    EXPECT_EQ(store::ValidateEvent({c.request.topic(), c.request.type(), c.request.data(),
                                    c.request.idempotency_key()},
                                   kMaxData),
              lone);
    EXPECT_EQ(Publish(c.request), lone);
    EXPECT_EQ(Batch(c.request), in_batch);
    EXPECT_EQ(Stream(c.request), absl::Status(c.code, "request[1]." + c.message));

    int http_status = 0;
    EXPECT_EQ(HttpMessage(c.json, c.code, &http_status), c.message);
    EXPECT_EQ(http_status, 400);
    EXPECT_EQ(HttpMessage(absl::StrCat(R"({"events":[{"topic":"ok","data":"1"},)", c.json, "]}"),
                          c.code, &http_status),
              "events[1]." + c.message);

    // The log's own check, behind every transport, agrees.
    std::vector<store::EventInput> one;
    one.push_back(Input(c.request));
    EXPECT_EQ(gateway_->log()->Append(std::move(one)).status(), lone);
    std::vector<store::EventInput> two;
    two.push_back(Input(Req("ok", "1")));
    two.push_back(Input(c.request));
    EXPECT_EQ(gateway_->log()->Append(std::move(two)).status(), in_batch);
  }
  // Only each stream's good first request was stored.
  EXPECT_EQ(gateway_->log()->Watermark(), Cases().size()) << "a rejected event was stored";
}

}  // namespace
}  // namespace tailgate::testing

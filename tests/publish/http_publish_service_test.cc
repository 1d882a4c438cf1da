// HttpPublishService on a real HttpServer over a log whose appends complete
// when the test says so: the response waits for the commit, the publish
// memory budget (429), draining (503) and append failures (503, 500).
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gateway/config.h"
#include "gateway/publish/http_publish.h"
#include "gateway/http/http_server.h"
#include "gateway/grpc/publisher_service.h"
#include "gtest/gtest.h"
#include "tests/publish/held_log.h"
#include "tests/testing/http_client.h"

namespace tailgate::testing {
namespace {

const std::vector<std::pair<std::string, std::string>> kJson = {
    {"Content-Type", "application/json"}};
const std::string kBody = R"({"topic":"orders.1","data":"0123456789012345678901234567890123456789"})";

class HttpPublishServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.http_mode = PublishConfig::HttpMode::kOpen;
    // One body fits, two do not.
    config_.memory_budget_bytes = kBody.size() + kBody.size() / 2;
    publisher_ = std::make_unique<PublisherService>(&log_, config_);
    service_ = std::make_unique<HttpPublishService>(&log_, config_, publisher_.get(), nullptr,
                                                    nullptr, nullptr, absl::Seconds(7));
    auto router = std::make_shared<HttpRouter>();
    service_->Register(router.get());
    HttpConfig http;
    http.listen = "127.0.0.1:0";
    http.threads = 2;
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(http, router);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    log_.CompleteAll();  // The server's Stop waits for pending responses.
    server_->Stop();
  }

  std::future<absl::StatusOr<HttpResult>> PostAsync(const std::string& body) {
    const int port = server_->port();
    return std::async(std::launch::async, [port, body] {
      return HttpFetch("127.0.0.1", port, "POST", "/v1/publish", kJson, body);
    });
  }
  HttpResult Post(const std::string& body) {
    absl::StatusOr<HttpResult> r = PostAsync(body).get();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResult{};
  }

  PublishConfig config_;
  HeldLog log_;
  std::unique_ptr<PublisherService> publisher_;
  std::unique_ptr<HttpPublishService> service_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpPublishServiceTest, AnswersAfterTheCommitAndChargesTheBudget) {
  std::future<absl::StatusOr<HttpResult>> first = PostAsync(kBody);
  log_.WaitForAppends(1);
  EXPECT_EQ(first.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "answered before the append completed";
  EXPECT_EQ(publisher_->budget_used(), kBody.size());
  // The budget holds the first body until its commit: a second does not fit.
  HttpResult second = Post(kBody);
  EXPECT_EQ(second.status, 429) << second.body;
  EXPECT_EQ(second.headers["retry-after"], "7");
  EXPECT_TRUE(absl::StrContains(second.body, "RESOURCE_EXHAUSTED")) << second.body;
  EXPECT_TRUE(absl::StrContains(second.body, "--publish_memory_budget")) << second.body;
  log_.CompleteAll();
  absl::StatusOr<HttpResult> r = first.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"id\":1,\"duplicate\":false}\n");
  EXPECT_EQ(publisher_->budget_used(), 0u);
  // Released with the ack: the next body fits again.
  std::future<absl::StatusOr<HttpResult>> third = PostAsync(kBody);
  log_.WaitForAppends(2);
  log_.CompleteAll();
  r = third.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "{\"id\":2,\"duplicate\":false}\n");
}

TEST_F(HttpPublishServiceTest, AppendFailures) {
  std::future<absl::StatusOr<HttpResult>> unavailable = PostAsync(kBody);
  log_.WaitForAppends(1);
  log_.CompleteAll(absl::UnavailableError("the store is unreachable"));
  absl::StatusOr<HttpResult> r = unavailable.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->headers["retry-after"], "7");
  EXPECT_TRUE(absl::StrContains(r->body, "\"code\":\"UNAVAILABLE\"")) << r->body;

  std::future<absl::StatusOr<HttpResult>> internal = PostAsync(kBody);
  log_.WaitForAppends(2);
  log_.CompleteAll(absl::InternalError("disk on fire"));
  r = internal.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"disk on fire\"}}\n");
  EXPECT_EQ(publisher_->budget_used(), 0u);
}

TEST_F(HttpPublishServiceTest, DrainingIs503) {
  publisher_->StartDraining();
  HttpResult r = Post(kBody);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "7");
  EXPECT_TRUE(absl::StrContains(r.body, "server is draining")) << r.body;
}

TEST(HttpPublishStatusTest, Mapping) {
  EXPECT_EQ(StatusToHttp(absl::StatusCode::kInvalidArgument), 400u);
  EXPECT_EQ(StatusToHttp(absl::StatusCode::kUnauthenticated), 401u);
  EXPECT_EQ(StatusToHttp(absl::StatusCode::kPermissionDenied), 403u);
  EXPECT_EQ(StatusToHttp(absl::StatusCode::kAlreadyExists), 409u);
  EXPECT_EQ(StatusToHttp(absl::StatusCode::kResourceExhausted), 413u);
  EXPECT_EQ(StatusToHttp(absl::StatusCode::kUnavailable), 503u);
  EXPECT_EQ(StatusToHttp(absl::StatusCode::kInternal), 500u);
  // Messages quote client bytes: the JSON stays valid whatever they are.
  EXPECT_EQ(ErrorJson(absl::InvalidArgumentError("a\"b\\c\n\x01\xff")),
            "{\"error\":{\"code\":\"INVALID_ARGUMENT\",\"message\":\"a\\\"b\\\\c\\n\\u0001\\ufffd\"}}\n");
}

}  // namespace
}  // namespace tailgate::testing

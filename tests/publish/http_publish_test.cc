// POST /v1/publish against an in-process Gateway over loopback (real log of
// the selected backend, real HTTP): results, validation and its messages,
// limits, idempotency, CORS, JWT auth, the modes and the metrics. Built twice
// (http_publish_test, http_publish_jetstream_test) like publish_test.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/server/gateway.h"
#include "gateway/diag/metrics.h"
#include "gtest/gtest.h"
#include "tests/publish/publish_testing.h"
#include "tests/testing/http_client.h"
#include "tests/testing/jwt_testing.h"

namespace tailgate::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";  // HS256, 32 bytes
constexpr char kOrigin[] = "https://app.example";
const Headers kJson = {{"Content-Type", "application/json"}};

std::unique_ptr<Gateway> Start(const Config& config) {
  absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(config);
  if (!gw.ok()) {
    ADD_FAILURE() << gw.status();
    return nullptr;
  }
  return *std::move(gw);
}

Config OpenConfig() {
  Config c = LoopbackConfig("http_publish");
  c.publish.http_mode = PublishConfig::HttpMode::kOpen;
  c.publish.max_data_bytes = 1000;
  c.publish.max_batch_events = 5;
  c.publish.max_request_bytes = 200 * 1024;
  c.publish.http_cors_origins = {kOrigin};
  return c;
}

class HttpPublishTest : public ::testing::Test {
 protected:
  void StartWith(const Config& c) {
    gw_ = Start(c);
    ASSERT_NE(gw_, nullptr);
  }

  HttpResult Post(const std::string& body, Headers headers = kJson) {
    absl::StatusOr<HttpResult> r =
        HttpFetch("127.0.0.1", gw_->http_port(), "POST", "/v1/publish", headers, body);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResult{};
  }
  HttpResult Request(const std::string& method, Headers headers = {}) {
    absl::StatusOr<HttpResult> r =
        HttpFetch("127.0.0.1", gw_->http_port(), method, "/v1/publish", headers);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResult{};
  }

  // A 4xx/5xx with a JSON error of `code` whose message contains `message`.
  void ExpectError(const HttpResult& r, int status, const std::string& code,
                   const std::string& message) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
              "application/json");
    EXPECT_TRUE(absl::StrContains(r.body, absl::StrCat("{\"error\":{\"code\":\"", code,
                                                       "\",\"message\":\"")))
        << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, message)) << "want " << message << " in " << r.body;
  }

  size_t EventCount() { return ReadAllEvents(*gw_->log()).size(); }

  std::unique_ptr<Gateway> gw_;
};

// The id in {"id":N,...}.
uint64_t IdOf(const std::string& body) {
  const size_t at = body.find("\"id\":");
  if (at == std::string::npos) return 0;
  return std::stoull(body.substr(at + 5));
}

TEST_F(HttpPublishTest, OffByDefaultIsNotFound) {
  Config c = LoopbackConfig("http_publish");
  StartWith(c);
  HttpResult r = Post(R"({"topic":"a","data":"x"})");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(EventCount(), 0u);
}

TEST_F(HttpPublishTest, OnNeedsPublishAuth) {
  Config c = LoopbackConfig("http_publish");
  c.publish.http_mode = PublishConfig::HttpMode::kOn;
  absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(c);
  ASSERT_FALSE(gw.ok());
  EXPECT_TRUE(absl::StrContains(gw.status().message(), "--auth_publish=required"))
      << gw.status();
}

TEST_F(HttpPublishTest, PublishesOneEventDurably) {
  StartWith(OpenConfig());
  HttpResult r = Post(R"({"topic":"orders.42","type":"created","data":"{\"n\":1} é","idempotency_key":"k-1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/json");
  const uint64_t id = IdOf(r.body);
  EXPECT_EQ(r.body, absl::StrCat("{\"id\":", id, ",\"duplicate\":false}\n"));
  // Acknowledged means committed: readable at once.
  std::vector<store::Event> events = ReadAllEvents(*gw_->log());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, id);
  EXPECT_EQ(events[0].topic, "orders.42");
  EXPECT_EQ(events[0].type, "created");
  EXPECT_EQ(events[0].data, "{\"n\":1} \xC3\xA9");
  // Missing optional fields are empty, as in the protobuf request.
  HttpResult minimal = Post(R"({"topic":"orders.43"})");
  EXPECT_EQ(minimal.status, 200) << minimal.body;
}

TEST_F(HttpPublishTest, IdempotentRepeatAndKeyReuse) {
  StartWith(OpenConfig());
  const std::string body = R"({"topic":"orders.1","data":"a","idempotency_key":"k1"})";
  HttpResult first = Post(body);
  ASSERT_EQ(first.status, 200) << first.body;
  HttpResult again = Post(body);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, absl::StrCat("{\"id\":", IdOf(first.body), ",\"duplicate\":true}\n"));
  EXPECT_EQ(EventCount(), 1u);
  if (OnJetStream()) return;  // JetStream's dedup does not compare contents (README).
  HttpResult other = Post(R"({"topic":"orders.1","data":"b","idempotency_key":"k1"})");
  ExpectError(other, 409, "ALREADY_EXISTS", "idempotency_key \\\"k1\\\" was already used");
}

TEST_F(HttpPublishTest, BatchIsAtomic) {
  StartWith(OpenConfig());
  HttpResult ok = Post(R"({"events":[{"topic":"a","data":"1"},{"topic":"b.c","data":"2"}]})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  const uint64_t id = IdOf(ok.body);
  EXPECT_EQ(ok.body, absl::StrCat("{\"results\":[{\"id\":", id, ",\"duplicate\":false},{\"id\":",
                                  id + 1, ",\"duplicate\":false}]}\n"));
  HttpResult bad = Post(R"({"events":[{"topic":"a","data":"1"},{"topic":"a","data":"2"},)"
                        R"({"topic":"a","data":"3"},{"topic":"a..b","data":"4"}]})");
  ExpectError(bad, 400, "INVALID_ARGUMENT", "events[3].topic: topic has an empty token");
  EXPECT_EQ(EventCount(), 2u);  // None of the bad batch.
}

TEST_F(HttpPublishTest, ValidationNamesTheProblem) {
  StartWith(OpenConfig());
  ExpectError(Post(R"({"topic":"a",)"), 400, "INVALID_ARGUMENT", "body is not valid JSON");
  ExpectError(Post(R"({"topic":"a"} x)"), 400, "INVALID_ARGUMENT", "body is not valid JSON");
  ExpectError(Post(R"({"topic":"a","topic":"b"})"), 400, "INVALID_ARGUMENT",
              "body is not valid JSON: duplicate object key");
  ExpectError(Post("\"text\""), 400, "INVALID_ARGUMENT", "body must be a JSON object");
  ExpectError(Post(R"({"topic":7,"data":"x"})"), 400, "INVALID_ARGUMENT",
              "topic: must be a JSON string");
  ExpectError(Post(R"({"topic":"a","data":{"n":1}})"), 400, "INVALID_ARGUMENT",
              "data: must be a JSON string");
  ExpectError(Post(R"({"topic":"a","data":null})"), 400, "INVALID_ARGUMENT",
              "data: must be a JSON string");
  ExpectError(Post(R"({"topic":"a","colour":"red"})"), 400, "INVALID_ARGUMENT",
              "colour: unknown field");
  ExpectError(Post(R"({"events":[{"topic":"a"}],"topic":"b"})"), 400, "INVALID_ARGUMENT",
              "topic: unknown field (a batch has only \\\"events\\\")");
  ExpectError(Post(R"({"events":[{"topic":"a"},{"topic":"b","extra":1}]})"), 400,
              "INVALID_ARGUMENT", "events[1].extra: unknown field");
  ExpectError(Post(R"({"events":[{"topic":"a"},"b"]})"), 400, "INVALID_ARGUMENT",
              "events[1]: must be a JSON object");
  ExpectError(Post(R"({"events":{}})"), 400, "INVALID_ARGUMENT", "events: must be a JSON array");
  ExpectError(Post(R"({"events":[]})"), 400, "INVALID_ARGUMENT",
              "events: a batch must have at least one event");
  ExpectError(Post(R"({"topic":"a","type":"error"})"), 400, "INVALID_ARGUMENT", "type:");
  ExpectError(Post(R"({"topic":"a","data":"x\u0000y"})"), 400, "INVALID_ARGUMENT", "data:");
  ExpectError(Post(R"({"topic":"a","idempotency_key":"has space"})"), 400, "INVALID_ARGUMENT",
              "idempotency_key:");
  ExpectError(Post("{\"topic\":\"a\",\"data\":\"\xff\"}"), 400, "INVALID_ARGUMENT",
              "body is not valid JSON");
  ExpectError(Post(R"({"topic":"a"})", {{"Content-Type", "text/plain"}}), 415, "INVALID_ARGUMENT",
              "Content-Type must be application/json");
  EXPECT_EQ(Post(R"({"topic":"a"})", {{"Content-Type", "application/json; charset=utf-8"}}).status,
            200);
  HttpResult get = Request("GET");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.headers["allow"], "POST, OPTIONS");
  EXPECT_EQ(EventCount(), 1u);
}

TEST_F(HttpPublishTest, Limits) {
  StartWith(OpenConfig());  // max_data_bytes 1000, max_batch_events 5, 200 KiB bodies
  ExpectError(Post(absl::StrCat(R"({"topic":"a","data":")", std::string(1001, 'x'), "\"}")), 413,
              "RESOURCE_EXHAUSTED", "data:");
  EXPECT_EQ(Post(absl::StrCat(R"({"topic":"a","data":")", std::string(1000, 'x'), "\"}")).status,
            200);
  std::string six = R"({"events":[)";
  for (int i = 0; i < 6; ++i) absl::StrAppend(&six, i > 0 ? "," : "", R"({"topic":"a"})");
  ExpectError(Post(six + "]}"), 413, "RESOURCE_EXHAUSTED", "events: batch has 6 events; the limit is 5");
  EXPECT_EQ(EventCount(), 1u);
}

// A body over the limit is refused from its head: the server never reads it
// (so this client, which waits for 100 Continue, never sends it).
TEST_F(HttpPublishTest, BodyOverTheLimitIs413BeforeItIsSent) {
  StartWith(OpenConfig());
  namespace net = boost::asio;
  namespace http = boost::beast::http;
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  socket.connect({net::ip::make_address("127.0.0.1"), gw_->http_port()});
  const std::string head =
      "POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n";
  net::write(socket, net::buffer(head));
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_TRUE(absl::StrContains(res.body(), "\"code\":\"RESOURCE_EXHAUSTED\"")) << res.body();
  EXPECT_TRUE(absl::StrContains(res.body(), "--max_request_bytes")) << res.body();
  EXPECT_FALSE(res.keep_alive());
}

// Below the limit, a client that asks gets 100 Continue and then its answer.
TEST_F(HttpPublishTest, ExpectContinue) {
  StartWith(OpenConfig());
  namespace net = boost::asio;
  namespace http = boost::beast::http;
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  socket.connect({net::ip::make_address("127.0.0.1"), gw_->http_port()});
  const std::string body = R"({"topic":"a","data":"x"})";
  const std::string head = absl::StrCat(
      "POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: ", body.size(), "\r\nExpect: 100-continue\r\n\r\n");
  net::write(socket, net::buffer(head));
  boost::beast::flat_buffer buffer;
  http::response<http::empty_body> interim;
  http::response_parser<http::empty_body> p0;
  http::read_header(socket, buffer, p0);
  EXPECT_EQ(p0.get().result_int(), 100);
  net::write(socket, net::buffer(body));
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 200) << res.body();
}

TEST_F(HttpPublishTest, Cors) {
  StartWith(OpenConfig());
  HttpResult pre = Request("OPTIONS", {{"Origin", kOrigin},
                                       {"Access-Control-Request-Method", "POST"},
                                       {"Access-Control-Request-Headers", "content-type"}});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.headers["access-control-allow-origin"], kOrigin);
  EXPECT_EQ(pre.headers["access-control-allow-methods"], "POST, OPTIONS");
  EXPECT_TRUE(absl::StrContains(pre.headers["access-control-allow-headers"], "Content-Type"));
  EXPECT_EQ(pre.headers["vary"], "Origin");
  HttpResult evil = Request("OPTIONS", {{"Origin", "https://evil.example"},
                                        {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(evil.status, 403);
  EXPECT_EQ(evil.headers.count("access-control-allow-origin"), 0u);

  Headers from_app = kJson;
  from_app.emplace_back("Origin", kOrigin);
  HttpResult ok = Post(R"({"topic":"a"})", from_app);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.headers["access-control-allow-origin"], kOrigin);
  Headers from_evil = kJson;
  from_evil.emplace_back("Origin", "https://evil.example");
  ExpectError(Post(R"({"topic":"a"})", from_evil), 403, "PERMISSION_DENIED",
              "origin https://evil.example may not publish");
  EXPECT_EQ(EventCount(), 1u);
}

TEST_F(HttpPublishTest, SubscribeCorsDoesNotAllowPublishing) {
  Config c = OpenConfig();
  c.publish.http_cors_origins.clear();
  c.sse.cors_origins = {kOrigin};
  StartWith(c);
  EXPECT_EQ(Request("OPTIONS", {{"Origin", kOrigin}, {"Access-Control-Request-Method", "POST"}})
                .status,
            403);
  Headers from_app = kJson;
  from_app.emplace_back("Origin", kOrigin);
  EXPECT_EQ(Post(R"({"topic":"a"})", from_app).status, 403);
}

TEST_F(HttpPublishTest, Metrics) {
  StartWith(OpenConfig());
  ASSERT_EQ(Post(R"({"topic":"a"})").status, 200);
  ASSERT_EQ(Post(R"({"events":[{"topic":"a"},{"topic":"b"}]})").status, 200);
  ASSERT_EQ(Post(R"({"topic":""})").status, 400);
  const std::string m = gw_->metrics()->Render();
  EXPECT_TRUE(absl::StrContains(m, "tailgate_http_publish_total{result=\"ok\"} 3\n")) << m;
  EXPECT_TRUE(absl::StrContains(m, "tailgate_http_publish_total{result=\"invalid\"} 1\n")) << m;
  EXPECT_TRUE(absl::StrContains(m, "tailgate_publish_total{result=\"ok\"} 3\n")) << m;
}

// --http_publish=on: the same JWT rules as gRPC publishing.
class HttpPublishAuthTest : public HttpPublishTest {
 protected:
  void SetUp() override {
    Config c = OpenConfig();
    c.publish.http_mode = PublishConfig::HttpMode::kOn;
    c.auth.publish_required = true;
    c.auth.algorithms = {"HS256"};
    c.auth.hs256_secret = kSecret;
    StartWith(c);
  }
  static std::string Token(const std::string& publish_grants, int64_t exp_offset = 3600) {
    return SignHs256(kHs256Header,
                     absl::StrCat(R"({"sub":"svc","exp":)", absl::ToUnixSeconds(absl::Now()) + exp_offset,
                                  R"(,"tailgate":{"publish":)", publish_grants, "}}"),
                     kSecret);
  }
  static Headers With(const std::string& token) {
    Headers h = kJson;
    h.emplace_back("Authorization", "Bearer " + token);
    return h;
  }
};

TEST_F(HttpPublishAuthTest, NeedsAToken) {
  HttpResult none = Post(R"({"topic":"orders.1"})");
  ExpectError(none, 401, "UNAUTHENTICATED", "a token is required");
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
  HttpResult bad = Post(R"({"topic":"orders.1"})", With("not.a.token"));
  ExpectError(bad, 401, "UNAUTHENTICATED", "invalid token");
  EXPECT_EQ(bad.headers["www-authenticate"], "Bearer error=\"invalid_token\"");
  ExpectError(Post(R"({"topic":"orders.1"})", With(Token(R"(["orders.*"])", -3600))), 401,
              "UNAUTHENTICATED", "expired");
  Headers basic = kJson;
  basic.emplace_back("Authorization", "Basic dXNlcjpwYXNz");
  ExpectError(Post(R"({"topic":"orders.1"})", basic), 401, "UNAUTHENTICATED", "");
  // The token is checked before the body: nothing about it leaks.
  ExpectError(Post("{not json"), 401, "UNAUTHENTICATED", "a token is required");
  EXPECT_EQ(EventCount(), 0u);
}

TEST_F(HttpPublishAuthTest, GrantsDecide) {
  const Headers orders = With(Token(R"(["orders.*"])"));
  EXPECT_EQ(Post(R"({"topic":"orders.1","data":"x"})", orders).status, 200);
  ExpectError(Post(R"({"topic":"users.1"})", orders), 403, "PERMISSION_DENIED", "users.1");
  ExpectError(Post(R"({"events":[{"topic":"orders.2"},{"topic":"users.1"}]})", orders), 403,
              "PERMISSION_DENIED", "events[1]: ");
  ExpectError(Post(R"({"topic":"orders.1"})", With(Token("[]"))), 403, "PERMISSION_DENIED",
              "orders.1");
  EXPECT_EQ(Post(R"({"events":[{"topic":"orders.2"},{"topic":"orders.3"}]})", orders).status,
            200);
  EXPECT_EQ(EventCount(), 3u);
}

}  // namespace
}  // namespace tailgate::testing

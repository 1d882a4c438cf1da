// JWT authentication and topic authorization end to end: an in-process
// gateway with --auth_subscribe=required --auth_publish=required, real HTTP
// (SSE) and gRPC clients over loopback.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/diag/logging.h"
#include "tailgate/v1/admin.grpc.pb.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tailgate/v1/subscriber.grpc.pb.h"
#include "tests/security/security_testing.h"
#include "tests/sse/sse_testing.h"
#include "tests/testing/http_client.h"
#include "tests/testing/sse_client.h"

namespace tailgate::testing {
namespace {

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";  // 32 bytes
constexpr char kOrigin[] = "https://app.example";

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = NewRsaKey().release();
    other_key_ = NewRsaKey().release();
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(key_);
    EVP_PKEY_free(other_key_);
  }

  void SetUp() override {
    Config c = SseTestConfig();
    c.auth.subscribe_required = true;
    c.auth.publish_required = true;
    c.auth.algorithms = {"RS256", "HS256"};
    c.auth.public_key_pem = PublicPem(key_);
    c.auth.hs256_secret = kSecret;
    c.auth.leeway = leeway_;
    c.auth.cookie_name = "tg_token";
    c.auth.allow_query_param = true;
    c.sse.cors_origins = {kOrigin};
    c.sse.cors_credentials = true;
    gw_ = StartGateway(c);
    ASSERT_NE(gw_, nullptr);
    channel_ = grpc::CreateChannel(gw_->grpc_address(), grpc::InsecureChannelCredentials());
  }

  std::string Token(const ClaimSpec& claims) { return SignRs256(kRs256Header, Claims(claims), key_); }
  std::string OrdersToken() {
    ClaimSpec c;
    c.subscribe = {"orders.>"};
    c.publish = {"orders.*"};
    return Token(c);
  }

  HttpResult Get(const std::string& target,
                 std::vector<std::pair<std::string, std::string>> headers = {}) {
    absl::StatusOr<HttpResult> r =
        HttpFetch("127.0.0.1", gw_->http_port(), "GET", target, headers);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResult{};
  }
  HttpResult GetWithToken(const std::string& target, const std::string& token) {
    return Get(target, {{"Authorization", "Bearer " + token}});
  }

  // A stream opens and delivers an event published after it.
  void ExpectStreams(const std::string& target,
                     std::vector<std::pair<std::string, std::string>> headers,
                     const std::string& topic = "orders.eu") {
    absl::StatusOr<std::unique_ptr<SseClient>> client =
        SseClient::Connect("127.0.0.1", gw_->http_port(), target, headers);
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_EQ((*client)->status(), 200) << (*client)->body();
    Publish(*gw_, topic, "hello");
    absl::StatusOr<SseEvent> e = (*client)->Next();
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->data, "hello");
  }

  static grpc::ClientContext* WithToken(grpc::ClientContext* ctx, const std::string& token) {
    ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  static EVP_PKEY* key_;
  static EVP_PKEY* other_key_;
  absl::Duration leeway_ = absl::Seconds(5);
  std::unique_ptr<Gateway> gw_;
  std::shared_ptr<grpc::Channel> channel_;
};

EVP_PKEY* JwtTest::key_ = nullptr;
EVP_PKEY* JwtTest::other_key_ = nullptr;

void ExpectUnauthorized(const HttpResult& r, const std::string& reason_part) {
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_TRUE(absl::StartsWith(r.headers.count("www-authenticate") ? r.headers.at("www-authenticate") : "",
                               "Bearer"));
  EXPECT_NE(r.body.find(reason_part), std::string::npos) << r.body;
  EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '\n'), 1) << "one-line reason: " << r.body;
}

// --- SSE ---------------------------------------------------------------------

TEST_F(JwtTest, ValidBearerTokenStreams) {
  ExpectStreams("/v1/events?topic=orders.eu", {{"Authorization", "Bearer " + OrdersToken()}});
}

TEST_F(JwtTest, MissingTokenIs401WithChallenge) {
  HttpResult r = Get("/v1/events?topic=orders.eu");
  ExpectUnauthorized(r, "a token is required");
  EXPECT_EQ(r.headers["www-authenticate"], "Bearer realm=\"tailgate\"");
}

TEST_F(JwtTest, ExpiredTokenIs401) {
  ClaimSpec c;
  c.subscribe = {"orders.>"};
  c.exp = absl::FromUnixSeconds(1700000000);
  HttpResult r = GetWithToken("/v1/events?topic=orders.eu", Token(c));
  ExpectUnauthorized(r, "expired");
  // RFC 6750 3.1: a presented token that failed says so, and why.
  EXPECT_EQ(r.headers["www-authenticate"],
            "Bearer realm=\"tailgate\", error=\"invalid_token\", "
            "error_description=\"invalid token: expired at 2023-11-14T22:13:20Z\"");
}

TEST_F(JwtTest, InvalidTokenChallengeNeverQuotesTheToken) {
  const std::string token = OrdersToken();
  HttpResult r = GetWithToken("/v1/events?topic=orders.eu", token + "x");
  ExpectUnauthorized(r, "signature verification failed");
  EXPECT_EQ(r.headers["www-authenticate"],
            "Bearer realm=\"tailgate\", error=\"invalid_token\", "
            "error_description=\"invalid token: signature verification failed\"");
  // A cookie is a presented token too.
  r = Get("/v1/events?topic=orders.eu", {{"Cookie", "tg_token=not-a-jwt"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(absl::StartsWith(r.headers["www-authenticate"],
                               "Bearer realm=\"tailgate\", error=\"invalid_token\", "
                               "error_description=\""))
      << r.headers["www-authenticate"];
}

TEST_F(JwtTest, NotYetValidTokenIs401) {
  ClaimSpec c;
  c.subscribe = {"orders.>"};
  c.nbf = absl::Now() + absl::Minutes(10);
  ExpectUnauthorized(GetWithToken("/v1/events?topic=orders.eu", Token(c)), "not valid before");
}

TEST_F(JwtTest, WrongKeyIs401) {
  ClaimSpec c;
  c.subscribe = {"orders.>"};
  ExpectUnauthorized(
      GetWithToken("/v1/events?topic=orders.eu", SignRs256(kRs256Header, Claims(c), other_key_)),
      "signature verification failed");
}

TEST_F(JwtTest, TamperedPayloadIs401) {
  const std::string token = OrdersToken();
  const size_t d1 = token.find('.'), d2 = token.rfind('.');
  ClaimSpec wider;
  wider.subscribe = {">"};
  const std::string tampered =
      token.substr(0, d1 + 1) + Base64Url(Claims(wider)) + token.substr(d2);
  ExpectUnauthorized(GetWithToken("/v1/events?topic=users.1", tampered),
                     "signature verification failed");
}

TEST_F(JwtTest, AlgNoneIs401) {
  ClaimSpec c;
  c.subscribe = {">"};
  const std::string unsigned_token =
      Base64Url(R"({"alg":"none","typ":"JWT"})") + "." + Base64Url(Claims(c)) + ".";
  ExpectUnauthorized(GetWithToken("/v1/events?topic=orders.eu", unsigned_token), "invalid token");
  // With some bytes in the signature slot, the algorithm itself is refused.
  ExpectUnauthorized(GetWithToken("/v1/events?topic=orders.eu", unsigned_token + "AAAA"),
                     "algorithm (unsupported) is not allowed");
}

TEST_F(JwtTest, Hs256SignedWithThePublicKeyIs401) {
  // Algorithm confusion: the RSA public key (which anyone has) as HMAC secret.
  ClaimSpec c;
  c.subscribe = {">"};
  ExpectUnauthorized(
      GetWithToken("/v1/events?topic=orders.eu", SignHs256(kHs256Header, Claims(c), PublicPem(key_))),
      "signature verification failed");
  // The configured secret works (HS256 is allowed here).
  ExpectStreams("/v1/events?topic=orders.eu",
                {{"Authorization", "Bearer " + SignHs256(kHs256Header, Claims(c), kSecret)}});
}

TEST_F(JwtTest, PatternsOutsideTheGrantsAre403) {
  const std::string token = OrdersToken();  // subscribe: orders.>
  HttpResult r = GetWithToken("/v1/events?topic=orders", token);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "token does not allow subscribing to \"orders\"\n");
  // error_description cannot hold '"' (RFC 6750 3): the topic is quoted with '.
  EXPECT_EQ(r.headers["www-authenticate"],
            "Bearer realm=\"tailgate\", error=\"insufficient_scope\", "
            "error_description=\"token does not allow subscribing to 'orders'\"");
  r = GetWithToken("/v1/events?topic=orders.eu&topic=users.1", token);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "token does not allow subscribing to \"users.1\"\n");
  ExpectStreams("/v1/events?topic=orders.eu.>&topic=orders.*", {{"Authorization", "Bearer " + token}});
}

TEST_F(JwtTest, WildcardEscalationIs403) {
  ClaimSpec c;
  c.subscribe = {"orders.*"};
  const std::string token = Token(c);
  for (const char* topic : {">", "*", "orders.>", "*.eu", "orders.*.>"}) {
    HttpResult r = GetWithToken(absl::StrCat("/v1/events?topic=", topic), token);
    EXPECT_EQ(r.status, 403) << topic << ": " << r.body;
    EXPECT_NE(r.body.find(absl::StrCat("\"", topic, "\"")), std::string::npos) << r.body;
  }
  ExpectStreams("/v1/events?topic=orders.*", {{"Authorization", "Bearer " + token}});
}

TEST_F(JwtTest, CookieTokenWithCorsCredentials) {
  // Preflight (a fetch-based client sending Authorization).
  absl::StatusOr<HttpResult> pre =
      HttpFetch("127.0.0.1", gw_->http_port(), "OPTIONS", "/v1/events?topic=orders.eu",
                {{"Origin", kOrigin},
                 {"Access-Control-Request-Method", "GET"},
                 {"Access-Control-Request-Headers", "authorization"}});
  ASSERT_TRUE(pre.ok());
  EXPECT_EQ(pre->status, 204);
  EXPECT_NE(pre->headers["access-control-allow-headers"].find("Authorization"), std::string::npos);
  EXPECT_EQ(pre->headers["access-control-allow-credentials"], "true");
  EXPECT_EQ(pre->headers["access-control-allow-origin"], kOrigin);
  // EventSource(url, {withCredentials: true}) sends the cookie.
  absl::StatusOr<std::unique_ptr<SseClient>> client = SseClient::Connect(
      "127.0.0.1", gw_->http_port(), "/v1/events?topic=orders.eu",
      {{"Origin", kOrigin}, {"Cookie", "theme=dark; tg_token=" + OrdersToken()}});
  ASSERT_TRUE(client.ok());
  ASSERT_EQ((*client)->status(), 200) << (*client)->body();
  EXPECT_EQ((*client)->header("access-control-allow-origin"), kOrigin);
  EXPECT_EQ((*client)->header("access-control-allow-credentials"), "true");
  // A refusal carries the CORS headers too, so the page can read it.
  HttpResult r = Get("/v1/events?topic=users.1",
                     {{"Origin", kOrigin}, {"Cookie", "tg_token=" + OrdersToken()}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.headers["access-control-allow-origin"], kOrigin);
}

// Captures what the process writes to stderr (the log) while alive.
class StderrCapture {
 public:
  StderrCapture() : path_(MakeTempDir("log") + "/stderr.log") {
    std::fflush(stderr);
    saved_ = dup(2);
    FILE* f = std::fopen(path_.c_str(), "w");
    dup2(fileno(f), 2);
    std::fclose(f);
  }
  std::string Stop() {
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    return ReadFileOrDie(path_);
  }

 private:
  std::string path_;
  int saved_;
};

TEST_F(JwtTest, QueryParamTokenWorksAndNeverReachesTheLog) {
  LogOptions debug;
  debug.min_level = LogLevel::kDebug;
  SetLogOptions(debug);
  const std::string token = OrdersToken();
  StderrCapture capture;
  ExpectStreams("/v1/events?topic=orders.eu&access_token=" + token, {});
  HttpResult refused = Get("/v1/events?topic=users.1&access_token=" + token);
  HttpResult bad = Get("/v1/events?topic=orders.eu&access_token=" + token + "x");
  const std::string log = capture.Stop();
  SetLogOptions(LogOptions());
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.body.find(token), std::string::npos);
  EXPECT_NE(log.find("access_token=REDACTED"), std::string::npos) << log;
  EXPECT_EQ(log.find(token.substr(token.rfind('.') + 1)), std::string::npos) << log;
  EXPECT_EQ(log.find(token.substr(0, 40)), std::string::npos) << log;
}

// A token under a wrongly spelled or unknown parameter is not read as a
// token (401), and must not reach the log either, in any spelling.
TEST_F(JwtTest, MisspelledTokenParametersNeverReachTheLog) {
  LogOptions debug;
  debug.min_level = LogLevel::kDebug;
  SetLogOptions(debug);
  const std::string token = OrdersToken();
  StderrCapture capture;
  std::vector<int> statuses;
  for (const char* name : {"Access_Token", "ACCESS_TOKEN", "access-token", "token", "jwt", "x"}) {
    statuses.push_back(Get(absl::StrCat("/v1/events?topic=orders.eu&", name, "=", token)).status);
  }
  statuses.push_back(Get("/v1/events?topic=orders.eu&" + token).status);
  const std::string log = capture.Stop();
  SetLogOptions(LogOptions());
  for (int status : statuses) EXPECT_EQ(status, 401);
  EXPECT_NE(log.find("Access_Token=REDACTED"), std::string::npos) << log;
  EXPECT_EQ(log.find(token.substr(token.rfind('.') + 1)), std::string::npos) << log;
  EXPECT_EQ(log.find(token.substr(0, 40)), std::string::npos) << log;
}

// --- gRPC --------------------------------------------------------------------

v1::PublishRequest Event(const std::string& topic) {
  v1::PublishRequest r;
  r.set_topic(topic);
  r.set_data("x");
  return r;
}

TEST_F(JwtTest, PublishNeedsAValidToken) {
  auto stub = v1::Publisher::NewStub(channel_);
  v1::PublishResponse res;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->Publish(&ctx, Event("orders.1"), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_NE(s.error_message().find("authorization: Bearer"), std::string::npos);
  }
  {
    ClaimSpec c;
    c.publish = {"orders.*"};
    c.exp = absl::Now() - absl::Hours(1);
    grpc::ClientContext ctx;
    grpc::Status s = stub->Publish(WithToken(&ctx, Token(c)), Event("orders.1"), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_NE(s.error_message().find("expired"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->Publish(WithToken(&ctx, OrdersToken()), Event("orders.1"), &res);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_GT(res.id(), 0u);
  }
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->Publish(WithToken(&ctx, OrdersToken()), Event("users.1"), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(s.error_message(), "token does not allow publishing to \"users.1\"");
  }
  {
    // orders.* does not reach two tokens down.
    grpc::ClientContext ctx;
    grpc::Status s = stub->Publish(WithToken(&ctx, OrdersToken()), Event("orders.eu.1"), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
}

TEST_F(JwtTest, PublishBatchNamesTheRefusedEventAndAppendsNothing) {
  auto stub = v1::Publisher::NewStub(channel_);
  const uint64_t before = gw_->log()->Watermark();
  v1::PublishBatchRequest req;
  *req.add_events() = Event("orders.1");
  *req.add_events() = Event("orders.2");
  *req.add_events() = Event("users.1");
  v1::PublishBatchResponse res;
  grpc::ClientContext ctx;
  grpc::Status s = stub->PublishBatch(WithToken(&ctx, OrdersToken()), req, &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(), "events[2]: token does not allow publishing to \"users.1\"");
  EXPECT_EQ(gw_->log()->Watermark(), before);
}

TEST_F(JwtTest, PublishStreamChecksEveryRequest) {
  auto stub = v1::Publisher::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    auto stream = stub->PublishStream(&ctx);
    v1::PublishResponse ack;
    EXPECT_FALSE(stream->Read(&ack));
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  grpc::ClientContext ctx;
  auto stream = stub->PublishStream(WithToken(&ctx, OrdersToken()));
  ASSERT_TRUE(stream->Write(Event("orders.1")));
  v1::PublishResponse ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_GT(ack.id(), 0u);
  stream->Write(Event("users.9"));
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(), "request[1]: token does not allow publishing to \"users.9\"");
}

TEST_F(JwtTest, SubscribeChecksTheToken) {
  auto stub = v1::Subscriber::NewStub(channel_);
  v1::Event e;
  {
    grpc::ClientContext ctx;
    v1::SubscribeRequest req;
    req.add_topics("orders.eu");
    auto reader = stub->Subscribe(&ctx, req);
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    v1::SubscribeRequest req;
    req.add_topics("orders.eu");
    req.add_topics("users.1");
    auto reader = stub->Subscribe(WithToken(&ctx, OrdersToken()), req);
    EXPECT_FALSE(reader->Read(&e));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(s.error_message(), "token does not allow subscribing to \"users.1\"");
  }
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.add_topics("orders.>");
  req.set_since("earliest");
  Publish(*gw_, "orders.eu", "for-grpc");
  auto reader = stub->Subscribe(WithToken(&ctx, OrdersToken()), req);
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.data(), "for-grpc");
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(JwtTest, AdminNeedsTheAdminClaim) {
  auto stub = v1::Admin::NewStub(channel_);
  v1::GetStatsResponse res;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub->GetStats(&ctx, v1::GetStatsRequest(), &res).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->GetStats(WithToken(&ctx, OrdersToken()), v1::GetStatsRequest(), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_NE(s.error_message().find("admin"), std::string::npos);
  }
  ClaimSpec c;
  c.admin = true;
  grpc::ClientContext ctx;
  grpc::Status s = stub->GetStats(WithToken(&ctx, Token(c)), v1::GetStatsRequest(), &res);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// --- Streams end when their token does --------------------------------------

// A 1 s leeway keeps these tests short; tokens expire a few seconds ahead.
class JwtExpiryTest : public JwtTest {
 protected:
  JwtExpiryTest() { leeway_ = absl::Seconds(1); }

  // A token for orders.> whose exp is about `ahead` from now; sets `end` to
  // exp + leeway, the instant its streams must end (exp has whole seconds).
  std::string ExpiringToken(absl::Duration ahead, absl::Time* end) {
    ClaimSpec c;
    c.subscribe = {"orders.>"};
    c.exp = absl::Now() + ahead;
    *end = absl::FromUnixSeconds(absl::ToUnixSeconds(c.exp)) + leeway_;
    return Token(c);
  }

  // The server's timer runs on the steady clock; converting `end` to it
  // costs a few microseconds, and the clocks are read a little apart.
  static constexpr absl::Duration kClockSlack = absl::Milliseconds(20);
};

TEST_F(JwtExpiryTest, SseStreamEndsAtExpiryPlusLeeway) {
  absl::Time end;
  const std::string token = ExpiringToken(absl::Seconds(4), &end);
  absl::StatusOr<std::unique_ptr<SseClient>> client =
      SseClient::Connect("127.0.0.1", gw_->http_port(), "/v1/events?topic=orders.eu",
                         {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_EQ((*client)->status(), 200) << (*client)->body();
  SseClient& c = **client;

  const uint64_t id1 = Publish(*gw_, "orders.eu", "early");
  absl::StatusOr<SseEvent> e = c.Next();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->data, "early");
  // Quiet, and still open, until shortly before the end.
  e = c.Next(end - absl::Milliseconds(1500) - absl::Now());
  ASSERT_EQ(e.status().code(), absl::StatusCode::kDeadlineExceeded)
      << "the stream ended early: " << e.status();
  const uint64_t id2 = Publish(*gw_, "orders.eu", "late");
  e = c.Next();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->data, "late");

  // Then the notice, not before the end and soon after it: no id of its own,
  // so the reconnect resumes after "late".
  e = c.Next(end + absl::Seconds(5) - absl::Now());
  const absl::Time ended = absl::Now();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, "tailgate.token_expired");
  EXPECT_EQ(e->data, R"({"reason":"token expired"})");
  EXPECT_EQ(e->last_event_id, absl::StrCat(id2));
  EXPECT_GE(ended, end - kClockSlack);
  EXPECT_LT(ended, end + absl::Seconds(2));
  // ...and the end of the response.
  EXPECT_EQ(c.Next().status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(c.clean_end());
  EXPECT_GT(id2, id1);

  // The EventSource reconnects with the same (now expired) token: refused.
  HttpResult r = Get("/v1/events?topic=orders.eu",
                     {{"Authorization", "Bearer " + token}, {"Last-Event-ID", absl::StrCat(id2)}});
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_TRUE(absl::StartsWith(r.headers["www-authenticate"],
                               "Bearer realm=\"tailgate\", error=\"invalid_token\", "
                               "error_description=\"invalid token: expired at "))
      << r.headers["www-authenticate"];
  // With a fresh token it resumes where the expired stream stopped.
  Publish(*gw_, "orders.eu", "after");
  absl::StatusOr<std::unique_ptr<SseClient>> again = SseClient::Connect(
      "127.0.0.1", gw_->http_port(), "/v1/events?topic=orders.eu",
      {{"Authorization", "Bearer " + OrdersToken()}, {"Last-Event-ID", absl::StrCat(id2)}});
  ASSERT_TRUE(again.ok()) << again.status();
  e = (*again)->Next();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->data, "after");
}

TEST_F(JwtExpiryTest, SseStreamWithALongLivedTokenOutlivesAShortOne) {
  // Per-stream deadlines: one stream's expiry ends only that stream.
  absl::Time end;
  const std::string short_token = ExpiringToken(absl::Seconds(2), &end);
  auto short_lived = SseClient::Connect("127.0.0.1", gw_->http_port(),
                                        "/v1/events?topic=orders.eu",
                                        {{"Authorization", "Bearer " + short_token}});
  auto long_lived = SseClient::Connect("127.0.0.1", gw_->http_port(),
                                       "/v1/events?topic=orders.eu",
                                       {{"Authorization", "Bearer " + OrdersToken()}});
  ASSERT_TRUE(short_lived.ok() && long_lived.ok());
  absl::StatusOr<SseEvent> e = (*short_lived)->Next(end + absl::Seconds(5) - absl::Now());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, "tailgate.token_expired");
  EXPECT_GE(absl::Now(), end - kClockSlack);
  Publish(*gw_, "orders.eu", "still-here");
  e = (*long_lived)->Next();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->data, "still-here");
  EXPECT_EQ((*short_lived)->raw().find("still-here"), std::string::npos);
}

TEST_F(JwtExpiryTest, GrpcSubscribeFinishesUnauthenticatedAtExpiry) {
  absl::Time end;
  const std::string token = ExpiringToken(absl::Seconds(4), &end);
  auto stub = v1::Subscriber::NewStub(channel_);
  const uint64_t id1 = Publish(*gw_, "orders.eu", "early");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::SubscribeRequest req;
  req.add_topics("orders.>");
  req.set_since("earliest");
  auto reader = stub->Subscribe(WithToken(&ctx, token), req);
  v1::Event e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.id(), id1);
  // The test is about a point in time: wait for it (nothing to synchronise with).
  absl::SleepFor(end - absl::Milliseconds(1500) - absl::Now());
  const uint64_t id2 = Publish(*gw_, "orders.eu", "late");
  ASSERT_TRUE(reader->Read(&e)) << "the call ended early";
  EXPECT_EQ(e.id(), id2);

  EXPECT_FALSE(reader->Read(&e)) << "got " << e.data();
  const absl::Time ended = absl::Now();
  EXPECT_GE(ended, end - kClockSlack);
  EXPECT_LT(ended, end + absl::Seconds(2));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_EQ(s.error_message(), absl::StrCat("token expired; subscribe again with a fresh token "
                                            "and after_id=",
                                            id2));
}

TEST(JwtConfigTest, BadConfigurationFailsStart) {
  Config c = SseTestConfig();
  c.auth.subscribe_required = true;
  c.auth.algorithms = {"none"};
  absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(c);
  ASSERT_FALSE(gw.ok());
  EXPECT_NE(gw.status().message().find("'none'"), absl::string_view::npos);
}

}  // namespace
}  // namespace tailgate::testing

// Who is connected, and taking them off, end to end: an in-process gateway
// with JWT auth; real SSE and gRPC Subscribe clients over loopback; Admin
// ListStreams / CountSubscribers / Revoke / ListRevocations / Unrevoke; the
// revocation across a restart and its expiry; tailgatectl's output.
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gateway/core/presence.h"
#include "tailgate/v1/admin.grpc.pb.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tailgate/v1/subscriber.grpc.pb.h"
#include "tests/security/security_testing.h"
#include "tests/sse/sse_testing.h"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"
#include "tests/testing/sse_client.h"
#include "tests/testing/test_store.h"

namespace tailgate::testing {
namespace {

constexpr char kCtl[] = "gateway/tailgatectl";

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token,
                                         std::chrono::seconds deadline = std::chrono::seconds(30)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + deadline);
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  return ctx;
}

// Polls `done` every 20 ms until true or `timeout`: conditions reached on
// server threads (a registration, an expiry), not ordering.
template <typename F>
bool WaitFor(F done, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// An open Subscribe call that has delivered its first event (so it is
// registered and positioned).
struct GrpcStream {
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader;
};

class RevocationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { key_ = NewRsaKey().release(); }
  static void TearDownTestSuite() { EVP_PKEY_free(key_); }

  void SetUp() override {
    config_ = SseTestConfig();
    UseFreshTestStore(config_, "revocation");
    config_.auth.subscribe_required = true;
    config_.auth.publish_required = true;
    config_.auth.algorithms = {"RS256"};
    config_.auth.public_key_pem = PublicPem(key_);
    config_.auth.leeway = absl::ZeroDuration();
    if (OnJetStream()) {
      config_.ops.revocations_file = MakeTempDir("revocations") + "/revocations";
    }
    Start();
  }

  void Start() {
    gw_ = StartGateway(config_);
    ASSERT_NE(gw_, nullptr);
    channel_ = grpc::CreateChannel(gw_->grpc_address(), grpc::InsecureChannelCredentials());
    admin_ = v1::Admin::NewStub(channel_);
  }

  void Restart() {
    gw_->Shutdown();
    gw_.reset();
    Start();
  }

  std::string Token(const std::string& sub, bool admin = false) {
    ClaimSpec c;
    c.sub = sub;
    c.subscribe = {">"};
    c.publish = {">"};
    c.admin = admin;
    return SignRs256(kRs256Header, Claims(c), key_);
  }
  std::string AdminToken() { return Token("ops", /*admin=*/true); }

  std::string Target(const std::string& pattern) {
    return absl::StrCat("/v1/events?topic=", pattern);
  }

  // An SSE stream of `sub` on `pattern` that has delivered `probe` (publish
  // it after opening all streams, then call Expect).
  std::unique_ptr<SseClient> OpenSse(const std::string& sub, const std::string& pattern) {
    absl::StatusOr<std::unique_ptr<SseClient>> c = SseClient::Connect(
        "127.0.0.1", gw_->http_port(), Target(pattern), {{"Authorization", "Bearer " + Token(sub)}});
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    EXPECT_EQ((*c)->status(), 200) << (*c)->body();
    return *std::move(c);
  }

  GrpcStream OpenGrpc(const std::string& sub, const std::string& pattern) {
    GrpcStream s;
    // Bounded: a stream that should have ended fails the test, not hangs it.
    s.ctx = Ctx(Token(sub), std::chrono::seconds(10));
    v1::SubscribeRequest req;
    req.add_topics(pattern);
    s.reader = v1::Subscriber::NewStub(channel_)->Subscribe(s.ctx.get(), req);
    return s;
  }

  // The status of a stream request (SseClient returns after the head, where
  // HttpFetch would wait for the end of an accepted stream).
  int StreamStatus(const std::string& target, const std::string& token) {
    absl::StatusOr<std::unique_ptr<SseClient>> c = SseClient::Connect(
        "127.0.0.1", gw_->http_port(), target, {{"Authorization", "Bearer " + token}});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? (*c)->status() : 0;
  }

  // For refused requests only: an accepted stream would not end.
  HttpResult Get(const std::string& target, const std::string& token) {
    absl::StatusOr<HttpResult> r = HttpFetch("127.0.0.1", gw_->http_port(), "GET", target,
                                             {{"Authorization", "Bearer " + token}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResult{};
  }

  v1::ListStreamsResponse ListStreams(const std::string& subject = "",
                                      const std::string& pattern = "") {
    v1::ListStreamsRequest req;
    req.set_subject(subject);
    req.set_pattern(pattern);
    v1::ListStreamsResponse res;
    grpc::Status s = admin_->ListStreams(Ctx(AdminToken()).get(), req, &res);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return res;
  }

  v1::RevokeResponse Revoke(const std::string& subject, const std::string& pattern,
                            absl::Duration for_) {
    v1::RevokeRequest req;
    req.set_subject(subject);
    req.set_pattern(pattern);
    req.set_until_unix_micros(absl::ToUnixMicros(absl::Now() + for_));
    v1::RevokeResponse res;
    grpc::Status s = admin_->Revoke(Ctx(AdminToken()).get(), req, &res);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return res;
  }

  std::string Ctl(const std::string& args) {
    return absl::StrCat(kCtl, " --server=", gw_->grpc_address(), " --token=", AdminToken(), " ",
                        args);
  }

  static EVP_PKEY* key_;
  Config config_;
  std::unique_ptr<Gateway> gw_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

EVP_PKEY* RevocationTest::key_ = nullptr;

TEST_F(RevocationTest, RevokingASubjectEndsItsSseAndGrpcStreamsAndRefusesItsTokens) {
  std::unique_ptr<SseClient> alice_sse = OpenSse("alice", "orders.>");
  std::unique_ptr<SseClient> bob_sse = OpenSse("bob", "orders.>");
  GrpcStream alice_grpc = OpenGrpc("alice", "orders.eu");
  ASSERT_TRUE(alice_sse && bob_sse);
  ASSERT_TRUE(WaitFor([&] { return gw_->streams()->size() == 3; }));
  const uint64_t id = Publish(*gw_, "orders.eu", "first");
  ASSERT_TRUE(alice_sse->Next().ok());
  ASSERT_TRUE(bob_sse->Next().ok());
  v1::Event ev;
  ASSERT_TRUE(alice_grpc.reader->Read(&ev));
  EXPECT_EQ(ev.id(), id);

  // Everyone is listed, with the position each stream delivered.
  ASSERT_TRUE(WaitFor([&] {
    v1::ListStreamsResponse l = ListStreams();
    return l.streams_size() == 3 && l.streams(0).position() == id &&
           l.streams(1).position() == id && l.streams(2).position() == id;
  }));
  v1::ListStreamsResponse all = ListStreams();
  EXPECT_EQ(all.streams(0).subject(), "alice");
  EXPECT_EQ(all.streams(0).protocol(), "sse");
  EXPECT_EQ(all.streams(1).subject(), "bob");
  EXPECT_EQ(all.streams(2).protocol(), "grpc");
  EXPECT_EQ(all.streams(2).patterns(0), "orders.eu");
  EXPECT_TRUE(absl::StartsWith(all.streams(0).remote(), "127.0.0.1:")) << all.streams(0).remote();
  EXPECT_GE(all.streams(0).age_seconds(), 0.0);
  EXPECT_EQ(ListStreams("alice").streams_size(), 2);
  EXPECT_EQ(ListStreams("", "orders.eu").streams_size(), 1);

  v1::CountSubscribersResponse counts;
  ASSERT_TRUE(admin_
                  ->CountSubscribers(Ctx(AdminToken()).get(), v1::CountSubscribersRequest(),
                                     &counts)
                  .ok());
  ASSERT_EQ(counts.patterns_size(), 2);
  EXPECT_EQ(counts.patterns(0).pattern(), "orders.>");
  EXPECT_EQ(counts.patterns(0).subscribers(), 2u);
  EXPECT_EQ(counts.patterns(1).pattern(), "orders.eu");
  EXPECT_EQ(counts.patterns(1).subscribers(), 1u);
  EXPECT_EQ(counts.streams(), 3u);

  const absl::Time revoked_at = absl::Now();
  v1::RevokeResponse res = Revoke("alice", "", absl::Hours(1));
  EXPECT_EQ(res.streams_ended(), 2u);
  EXPECT_TRUE(res.persisted());

  // Both of alice's streams end promptly; the gRPC one says why.
  EXPECT_EQ(alice_sse->Next(absl::Seconds(5)).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(alice_sse->clean_end());
  EXPECT_FALSE(alice_grpc.reader->Read(&ev));
  grpc::Status finished = alice_grpc.reader->Finish();
  EXPECT_EQ(finished.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StartsWith(finished.error_message(), "token subject alice is revoked until "))
      << finished.error_message();
  EXPECT_LT(absl::Now() - revoked_at, absl::Seconds(5));

  // Bob is unaffected.
  Publish(*gw_, "orders.eu", "second");
  absl::StatusOr<SseEvent> e = bob_sse->Next();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->data, "second");
  ASSERT_TRUE(WaitFor([&] { return ListStreams().streams_size() == 1; }));
  EXPECT_EQ(ListStreams().streams(0).subject(), "bob");

  // Alice's tokens are refused on every transport.
  HttpResult refused = Get(Target("orders.>"), Token("alice"));
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_TRUE(absl::StartsWith(refused.body, "token subject alice is revoked until "))
      << refused.body;
  EXPECT_TRUE(absl::StartsWith(refused.headers["www-authenticate"],
                               "Bearer realm=\"tailgate\", error=\"invalid_token\""))
      << refused.headers["www-authenticate"];
  GrpcStream again = OpenGrpc("alice", "orders.eu");
  EXPECT_FALSE(again.reader->Read(&ev));
  EXPECT_EQ(again.reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(StreamStatus(Target("orders.>"), Token("bob")), 200);
  // Publishing too: the JWT verifier's check, shared by every call.
  auto publisher = v1::Publisher::NewStub(channel_);
  v1::PublishRequest pub;
  pub.set_topic("orders.eu");
  pub.set_data("x");
  v1::PublishResponse pubres;
  grpc::Status published = publisher->Publish(Ctx(Token("alice")).get(), pub, &pubres);
  EXPECT_EQ(published.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(published.error_message().find("token subject alice is revoked until "),
            std::string::npos)
      << published.error_message();
  EXPECT_TRUE(publisher->Publish(Ctx(Token("bob")).get(), pub, &pubres).ok());

  // Listed; lifted; accepted again.
  v1::ListRevocationsResponse revs;
  ASSERT_TRUE(
      admin_->ListRevocations(Ctx(AdminToken()).get(), v1::ListRevocationsRequest(), &revs).ok());
  ASSERT_EQ(revs.revocations_size(), 1);
  EXPECT_EQ(revs.revocations(0).subject(), "alice");
  v1::UnrevokeRequest un;
  un.set_subject("alice");
  v1::UnrevokeResponse unres;
  ASSERT_TRUE(admin_->Unrevoke(Ctx(AdminToken()).get(), un, &unres).ok());
  std::unique_ptr<SseClient> back = OpenSse("alice", "orders.>");
  ASSERT_TRUE(back);
  EXPECT_EQ(
      admin_->Unrevoke(Ctx(AdminToken()).get(), un, &unres).error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST_F(RevocationTest, RevokingAPatternEndsCoveredStreamsAndRefusesCoveredSubscriptions) {
  std::unique_ptr<SseClient> eu = OpenSse("alice", "orders.eu");
  std::unique_ptr<SseClient> everything = OpenSse("bob", ">");
  GrpcStream us = OpenGrpc("carol", "orders.us");
  ASSERT_TRUE(eu && everything);
  ASSERT_TRUE(WaitFor([&] { return gw_->streams()->size() == 3; }));

  v1::RevokeResponse res = Revoke("", "orders.>", absl::Hours(1));
  EXPECT_EQ(res.streams_ended(), 2u);
  EXPECT_EQ(eu->Next(absl::Seconds(5)).status().code(), absl::StatusCode::kOutOfRange);
  v1::Event ev;
  EXPECT_FALSE(us.reader->Read(&ev));
  grpc::Status finished = us.reader->Finish();
  EXPECT_EQ(finished.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(finished.error_message().find("\"orders.>\" are revoked until "), std::string::npos)
      << finished.error_message();

  // ">" is wider than the revoked pattern: not covered, not ended.
  Publish(*gw_, "orders.eu", "still");
  absl::StatusOr<SseEvent> e = everything->Next();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->data, "still");

  HttpResult refused = Get(Target("orders.eu"), Token("alice"));
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("revoked"), std::string::npos) << refused.body;
  GrpcStream again = OpenGrpc("carol", "orders.*");
  EXPECT_FALSE(again.reader->Read(&ev));
  EXPECT_EQ(again.reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(StreamStatus(Target("users.1"), Token("alice")), 200);
}

TEST_F(RevocationTest, RevocationSurvivesARestartUntilItExpires) {
  std::unique_ptr<SseClient> alice = OpenSse("alice", "orders.>");
  ASSERT_TRUE(alice);
  ASSERT_TRUE(WaitFor([&] { return gw_->streams()->size() == 1; }));
  // tailgatectl, with a short --for.
  auto [status, out] = Shell(Ctl("revoke --subject=alice --for=4s"));
  ASSERT_EQ(status, 0) << out;
  EXPECT_TRUE(absl::StartsWith(out, "revoked subject alice until ")) << out;
  EXPECT_TRUE(absl::EndsWith(out, ": 1 stream(s) ended\n")) << out;
  EXPECT_EQ(alice->Next(absl::Seconds(5)).status().code(), absl::StatusCode::kOutOfRange);
  const absl::Time until = absl::Now() + absl::Seconds(4);  // At least.
  if (!OnJetStream()) {
    EXPECT_TRUE(std::filesystem::exists(config_.store.data_dir + "/revocations"));
  }

  Restart();
  auto [list_status, list] = Shell(Ctl("revocations"));
  EXPECT_EQ(list_status, 0) << list;
  EXPECT_NE(list.find("subject  alice "), std::string::npos) << list;
  HttpResult refused = Get(Target("orders.>"), Token("alice"));
  ASSERT_EQ(refused.status, 401) << "still revoked after the restart: " << refused.body;
  EXPECT_NE(refused.body.find("token subject alice is revoked until "), std::string::npos);
  GrpcStream g = OpenGrpc("alice", "orders.eu");
  v1::Event ev;
  EXPECT_FALSE(g.reader->Read(&ev));
  EXPECT_EQ(g.reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Accepted again once `until` passes (and not before).
  ASSERT_TRUE(WaitFor([&] { return StreamStatus(Target("orders.>"), Token("alice")) == 200; },
                      absl::Seconds(15)));
  EXPECT_GE(absl::Now(), until - absl::Seconds(1));
  auto [after_status, after] = Shell(Ctl("revocations"));
  EXPECT_EQ(after.find("alice"), std::string::npos) << after;
}

TEST_F(RevocationTest, TailgatectlListsStreamsAndSubscribers) {
  std::unique_ptr<SseClient> a = OpenSse("alice", "orders.>");
  std::unique_ptr<SseClient> b = OpenSse("bob", "orders.>");
  GrpcStream c = OpenGrpc("carol", "users.1");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(WaitFor([&] { return gw_->streams()->size() == 3; }));

  auto [status, streams] = Shell(Ctl("streams"));
  ASSERT_EQ(status, 0) << streams;
  EXPECT_TRUE(absl::StartsWith(streams, "ID     SUBJECT")) << streams;
  EXPECT_NE(streams.find(" alice "), std::string::npos) << streams;
  EXPECT_NE(streams.find(" carol "), std::string::npos) << streams;
  EXPECT_NE(streams.find(" grpc "), std::string::npos) << streams;
  EXPECT_EQ(std::count(streams.begin(), streams.end(), '\n'), 4) << streams;

  auto [s2, only_bob] = Shell(Ctl("streams --subject=bob"));
  EXPECT_EQ(std::count(only_bob.begin(), only_bob.end(), '\n'), 2) << only_bob;
  EXPECT_NE(only_bob.find(" bob "), std::string::npos) << only_bob;
  auto [s3, users] = Shell(Ctl("streams 'users.>'"));
  EXPECT_EQ(std::count(users.begin(), users.end(), '\n'), 2) << users;
  EXPECT_NE(users.find(" carol "), std::string::npos) << users;

  auto [s4, subs] = Shell(Ctl("subscribers"));
  EXPECT_EQ(s4, 0) << subs;
  EXPECT_NE(subs.find(absl::StrCat(absl::StrFormat("%-40s %12d", "orders.>", 2), "\n")),
            std::string::npos)
      << subs;
  EXPECT_NE(subs.find(absl::StrFormat("%-40s %12d", "users.1", 1)), std::string::npos) << subs;
  EXPECT_TRUE(absl::EndsWith(subs, "3 stream(s)\n")) << subs;
  auto [s5, orders] = Shell(Ctl("subscribers 'orders.>'"));
  EXPECT_EQ(orders.find("users.1"), std::string::npos) << orders;
  EXPECT_TRUE(absl::EndsWith(orders, "2 stream(s)\n")) << orders;

  // Usage errors exit 2; the server's refusals 1.
  EXPECT_EQ(Shell(Ctl("revoke --subject=x")).first, 2);
  EXPECT_EQ(Shell(Ctl("revoke --subject=x --pattern=y --for=1h")).first, 2);
  EXPECT_EQ(Shell(Ctl("revoke --subject=x --until=tomorrow")).first, 2);
  auto [past_status, past] = Shell(Ctl("revoke --subject=x --until=2001-01-01T00:00:00Z"));
  EXPECT_EQ(past_status, 1) << past;
  EXPECT_NE(past.find("INVALID_ARGUMENT"), std::string::npos) << past;
  auto [no_admin, denied] = Shell(absl::StrCat(kCtl, " --server=", gw_->grpc_address(),
                                               " --token=", Token("alice"), " streams"));
  EXPECT_EQ(no_admin, 1) << denied;
  EXPECT_NE(denied.find("PERMISSION_DENIED"), std::string::npos) << denied;
}

}  // namespace
}  // namespace tailgate::testing

namespace tailgate::testing {
namespace {

// --metrics_subscribers: per-pattern gauges, the busiest patterns only.
TEST_F(RevocationTest, SubscriberGaugesAreOptInAndBounded) {
  auto scrape = [&] {
    absl::StatusOr<HttpResult> r = HttpFetch("127.0.0.1", gw_->http_port(), "GET", "/metrics");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->body : std::string();
  };
  EXPECT_EQ(scrape().find("tailgate_subscribers"), std::string::npos) << "off by default";
  config_.ops.metrics_subscribers = true;
  config_.ops.metrics_subscribers_limit = 1;
  Restart();
  std::unique_ptr<SseClient> a = OpenSse("alice", "orders.>");
  std::unique_ptr<SseClient> b = OpenSse("bob", "orders.>");
  GrpcStream c = OpenGrpc("carol", "users.1");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(WaitFor([&] { return gw_->streams()->size() == 3; }));
  const std::string text = scrape();
  EXPECT_NE(text.find("\ntailgate_subscribers{pattern=\"orders.>\"} 2\n"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("tailgate_subscribers{pattern=\"users.1\"}"), std::string::npos)
      << "beyond --metrics_subscribers_limit=1: " << text;
  a.reset();
  ASSERT_TRUE(WaitFor([&] {
    return scrape().find("\ntailgate_subscribers{pattern=\"orders.>\"} 1\n") != std::string::npos;
  }));
}

}  // namespace
}  // namespace tailgate::testing

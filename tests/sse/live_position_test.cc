// Issue 16 on the server: `last=N`, the tailgate.live caught-up marker, the
// topic/time frame fields and the position (GET /v1/position, gRPC
// GetPosition), over SSE and gRPC. Built on both backends like sse_test.
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tailgate/v1/subscriber.grpc.pb.h"
#include "tests/sse/sse_testing.h"
#include "tests/testing/http_client.h"
#include "tests/testing/sse_client.h"

namespace tailgate::testing {
namespace {

constexpr char kHost[] = "127.0.0.1";

class LivePositionTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(SseTestConfig()); }

  void Start(const Config& config) {
    gw_.reset();
    gw_ = StartGateway(config);
    ASSERT_NE(gw_, nullptr);
    stub_ = v1::Subscriber::NewStub(
        grpc::CreateChannel(gw_->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<SseClient> Open(const std::string& target) {
    absl::StatusOr<std::unique_ptr<SseClient>> c = SseClient::Connect(kHost, gw_->http_port(), target);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  HttpResult Get(const std::string& target,
                 std::vector<std::pair<std::string, std::string>> headers = {}) {
    absl::StatusOr<HttpResult> r = HttpFetch(kHost, gw_->http_port(), "GET", target, headers);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResult{};
  }

  // The hub follows the log's commits; on JetStream its watermark may trail
  // the append's acknowledgement by a moment. Bounded wait.
  void AwaitHubAt(uint64_t id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (gw_->log()->Watermark() < id && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    // The position body is the hub's watermark: poll it.
    while (absl::Now() < deadline) {
      if (Get("/v1/position?topic=x").body == absl::StrCat("{\"id\":", id, "}\n")) return;
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << "hub never reached " << id;
  }

  std::unique_ptr<Gateway> gw_;
  std::unique_ptr<v1::Subscriber::Stub> stub_;
};

TEST_F(LivePositionTest, LastReplaysTheLatestMatchingEventsThenTheMarkerThenLive) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 10; ++i) {
    ids.push_back(Publish(*gw_, "l.a", absl::StrCat("e", i)));
    Publish(*gw_, "other", "x");  // Interleaved, never counted.
  }
  const uint64_t watermark = gw_->log()->Watermark();
  AwaitHubAt(watermark);
  auto c = Open("/v1/events?topic=l.*&last=3&live=1");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->status(), 200) << c->body();
  for (int i = 7; i < 10; ++i) {
    absl::StatusOr<SseEvent> e = c->Next();
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->data, absl::StrCat("e", i));
    EXPECT_EQ(e->last_event_id, std::to_string(ids[i]));
  }
  absl::StatusOr<SseEvent> marker = c->Next();
  ASSERT_TRUE(marker.ok()) << marker.status();
  EXPECT_EQ(marker->type, "tailgate.live");
  EXPECT_EQ(marker->data, absl::StrCat("{\"id\":", watermark, "}"));
  // No id: line, so the client's last id is still the last event's.
  EXPECT_EQ(marker->last_event_id, std::to_string(ids[9]));
  const uint64_t live = Publish(*gw_, "l.b", "live");
  absl::StatusOr<SseEvent> e = c->Next();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->data, "live");
  EXPECT_EQ(e->last_event_id, std::to_string(live));
  EXPECT_EQ(c->raw().find("tailgate.live", c->raw().find("tailgate.live") + 1), std::string::npos)
      << "the marker is sent once";

  // More than is retained: everything, oldest first.
  auto all = Open("/v1/events?topic=l.a&last=1000");
  ASSERT_NE(all, nullptr);
  absl::StatusOr<SseEvent> first = all->Next();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->last_event_id, std::to_string(ids[0]));
}

TEST_F(LivePositionTest, LiveOnlyStreamGetsTheMarkerAtOnceAndOnlyOnRequest) {
  const uint64_t before = Publish(*gw_, "m", "old");
  AwaitHubAt(before);
  auto c = Open("/v1/events?topic=m&live=1");
  ASSERT_NE(c, nullptr);
  absl::StatusOr<SseEvent> marker = c->Next();
  ASSERT_TRUE(marker.ok()) << marker.status();
  EXPECT_EQ(marker->type, "tailgate.live");
  EXPECT_EQ(marker->data, absl::StrCat("{\"id\":", before, "}"));
  EXPECT_EQ(marker->last_event_id, "");

  auto plain = Open("/v1/events?topic=m&last=1");
  ASSERT_NE(plain, nullptr);
  const uint64_t next = Publish(*gw_, "m", "new");
  for (uint64_t want : {before, next}) {
    absl::StatusOr<SseEvent> e = plain->Next();
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->type, "message");
    EXPECT_EQ(e->last_event_id, std::to_string(want));
  }
  EXPECT_EQ(plain->raw().find("tailgate.live"), std::string::npos);
}

TEST_F(LivePositionTest, ResumePrecedenceIsHeaderThenLastEventIdThenSinceThenLast) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Publish(*gw_, "p", absl::StrCat(i)));
  AwaitHubAt(ids.back());
  struct Case {
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    uint64_t first;
  };
  const std::vector<Case> cases = {
      {absl::StrCat("/v1/events?topic=p&last=1&lastEventId=", ids[0]),
       {{"Last-Event-ID", std::to_string(ids[2])}}, ids[3]},
      {absl::StrCat("/v1/events?topic=p&last=1&since=earliest&lastEventId=", ids[1]), {}, ids[2]},
      {"/v1/events?topic=p&last=1&since=earliest", {}, ids[0]},
      {"/v1/events?topic=p&last=2", {}, ids[3]},
  };
  for (const Case& k : cases) {
    absl::StatusOr<std::unique_ptr<SseClient>> c =
        SseClient::Connect(kHost, gw_->http_port(), k.target, k.headers);
    ASSERT_TRUE(c.ok()) << c.status();
    absl::StatusOr<SseEvent> e = (*c)->Next();
    ASSERT_TRUE(e.ok()) << k.target << ": " << e.status();
    EXPECT_EQ(e->last_event_id, std::to_string(k.first)) << k.target;
  }
}

TEST_F(LivePositionTest, InvalidLastLiveAndMetaAre400NamingTheParameter) {
  for (const std::string q : {"last=0", "last=1001", "last=abc", "last=-1", "last=", "last=99999",
                              "live=2", "meta=yes", "last=1&since=soon"}) {
    HttpResult r = Get(absl::StrCat("/v1/events?topic=a&", q));
    EXPECT_EQ(r.status, 400) << q;
    const std::string name = q.find("since") != std::string::npos ? "since" : q.substr(0, 4);
    EXPECT_EQ(r.body.rfind(name + ":", 0), 0u) << q << ": " << r.body;
  }
}

TEST_F(LivePositionTest, MetaFramesCarryTopicAndPublishTime) {
  // Publish times from 2023: no age limit may hide the events.
  Config config = SseTestConfig();
  config.store.default_retention.max_age = absl::ZeroDuration();
  Start(config);
  const absl::Time t = absl::FromUnixMicros(1'700'000'000'123'456);
  const uint64_t id = Publish(*gw_, "meta.x", "d", "kind", t);
  const uint64_t multi = Publish(*gw_, "meta.y", "a\nb", "", t);
  AwaitHubAt(multi);
  auto c = Open("/v1/events?topic=meta.*&since=earliest&meta=1");
  ASSERT_NE(c, nullptr);
  for (uint64_t want : {id, multi}) {
    absl::StatusOr<SseEvent> e = c->Next();
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->last_event_id, std::to_string(want));  // Still a plain event.
  }
  EXPECT_NE(c->raw().find(absl::StrCat("id: ", id, "\nevent: kind\ntopic: meta.x\n"
                                       "time: 2023-11-14T22:13:20.123456Z\ndata: d\n\n")),
            std::string::npos)
      << c->raw();
  EXPECT_NE(c->raw().find(absl::StrCat("id: ", multi, "\ntopic: meta.y\n"
                                       "time: 2023-11-14T22:13:20.123456Z\ndata: a\ndata: b\n\n")),
            std::string::npos)
      << c->raw();
  // Without meta=1 the shared frames go out as before.
  auto plain = Open("/v1/events?topic=meta.*&since=earliest");
  ASSERT_NE(plain, nullptr);
  ASSERT_TRUE(plain->Next().ok());
  ASSERT_TRUE(plain->Next().ok());
  EXPECT_EQ(plain->raw().find("topic:"), std::string::npos);
}

TEST_F(LivePositionTest, PositionIsTheWatermarkAndClosesTheRenderGap) {
  Config config = SseTestConfig();
  config.sse.cors_origins = {"https://app.example"};
  Start(config);
  const uint64_t rendered = Publish(*gw_, "g.a", "in the render");
  AwaitHubAt(rendered);
  HttpResult pos = Get("/v1/position?topic=g.*", {{"Origin", "https://app.example"}});
  EXPECT_EQ(pos.status, 200);
  EXPECT_EQ(pos.headers["content-type"], "application/json");
  EXPECT_EQ(pos.headers["access-control-allow-origin"], "https://app.example");
  EXPECT_EQ(pos.body, absl::StrCat("{\"id\":", rendered, "}\n"));
  // Published between the render and the subscription: not missed.
  const uint64_t gap = Publish(*gw_, "g.b", "in the gap");
  auto c = Open(absl::StrCat("/v1/events?topic=g.*&lastEventId=", rendered));
  ASSERT_NE(c, nullptr);
  absl::StatusOr<SseEvent> e = c->Next();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->last_event_id, std::to_string(gap));

  EXPECT_EQ(Get("/v1/position").status, 400);
  EXPECT_EQ(Get("/v1/position?topic=a..b").status, 400);
  absl::StatusOr<HttpResult> post = HttpFetch(kHost, gw_->http_port(), "POST", "/v1/position?topic=a");
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(post->status, 405);
}

TEST_F(LivePositionTest, GrpcLastMarkerAndGetPosition) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Publish(*gw_, "r.a", absl::StrCat(i)));
  AwaitHubAt(ids.back());
  grpc::ClientContext pctx;
  v1::PositionRequest preq;
  preq.add_topics("r.*");
  v1::Position pos;
  ASSERT_TRUE(stub_->GetPosition(&pctx, preq, &pos).ok());
  EXPECT_EQ(pos.id(), ids.back());

  v1::SubscribeRequest req;
  req.add_topics("r.*");
  req.set_last(2);
  req.set_live_marker(true);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub_->Subscribe(&ctx, req);
  v1::Event e;
  for (int i = 2; i < 4; ++i) {
    ASSERT_TRUE(reader->Read(&e));
    EXPECT_EQ(e.id(), ids[i]);
  }
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.type(), "tailgate.live");
  EXPECT_EQ(e.id(), 0u);
  EXPECT_EQ(e.data(), absl::StrCat("{\"id\":", ids.back(), "}"));
  const uint64_t live = Publish(*gw_, "r.b", "live");
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.id(), live);
  ctx.TryCancel();
  while (reader->Read(&e)) {
  }

  for (uint32_t bad : {0u, 1001u}) {
    v1::SubscribeRequest r;
    r.add_topics("r.*");
    r.set_last(bad);
    grpc::ClientContext bctx;
    auto br = stub_->Subscribe(&bctx, r);
    while (br->Read(&e)) {
    }
    grpc::Status s = br->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(s.error_message().rfind("last:", 0), 0u) << s.error_message();
  }
  grpc::ClientContext ectx;
  v1::PositionRequest empty;
  EXPECT_EQ(stub_->GetPosition(&ectx, empty, &pos).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace tailgate::testing

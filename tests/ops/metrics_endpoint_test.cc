// GET /metrics of the real binary: values move as expected after publishing
// and subscribing, and promtool accepts a real scrape.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/ops/ops_testing.h"
#include "tests/testing/sse_client.h"

namespace tailgate::testing {
namespace {

grpc::Status Publish(v1::Publisher::Stub* stub, const std::string& topic, const std::string& data,
                     const std::string& key = "", v1::PublishResponse* out = nullptr) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::PublishRequest req;
  req.set_topic(topic);
  req.set_data(data);
  req.set_idempotency_key(key);
  v1::PublishResponse res;
  grpc::Status s = stub->Publish(&ctx, req, &res);
  if (out != nullptr) *out = res;
  return s;
}

std::unique_ptr<SseClient> Subscribe(const RunningGateway& gw, const std::string& query) {
  absl::StatusOr<std::unique_ptr<SseClient>> c =
      SseClient::Connect("127.0.0.1", gw.http_port, "/v1/events?" + query);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return nullptr;
  EXPECT_EQ((*c)->status(), 200) << (*c)->body();
  return *std::move(c);
}

TEST(MetricsEndpointTest, CountsMoveWithPublishesAndSubscribers) {
  RunningGateway gw = StartGateway(MakeTempDir("metrics"));
  ASSERT_GT(gw.http_port, 0);
  auto stub = v1::Publisher::NewStub(gw.Channel());

  absl::StatusOr<HttpResult> head = HttpFetch("127.0.0.1", gw.http_port, "GET", "/metrics");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(Sample(gw, "tailgate_sse_connections"), 0);
  EXPECT_EQ(Sample(gw, "tailgate_ready"), 1);
  EXPECT_EQ(Sample(gw, "tailgate_build_info{version=\"0.1.0\"}"), 1);

  // Three live subscribers: the gauge goes up.
  std::vector<std::unique_ptr<SseClient>> subs;
  for (int i = 0; i < 3; ++i) subs.push_back(Subscribe(gw, "topic=m.>"));
  ASSERT_EQ(subs.size(), 3u);
  for (const auto& s : subs) ASSERT_NE(s, nullptr);
  EXPECT_EQ(WaitForSample(gw, "tailgate_sse_connections", 3), 3);
  EXPECT_EQ(Sample(gw, "tailgate_sse_connections_opened_total"), 3);
  EXPECT_EQ(Sample(gw, "tailgate_sse_streams{protocol=\"http/1.1\"}"), 3);
  EXPECT_EQ(Sample(gw, "tailgate_sse_streams_opened_total{protocol=\"http/1.1\"}"), 3);
  EXPECT_EQ(Sample(gw, "tailgate_sse_streams{protocol=\"h2\"}"), 0);

  // Ten publishes, each delivered to the three subscribers.
  size_t frame_bytes = 0;
  uint64_t last_id = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string data = absl::StrCat("event-", i);
    v1::PublishResponse res;
    ASSERT_TRUE(Publish(stub.get(), "m.x", data, "", &res).ok());
    frame_bytes += absl::StrCat("id: ", res.id(), "\ndata: ", data, "\n\n").size();
    last_id = res.id();
  }
  for (const auto& s : subs) {
    for (int i = 0; i < 10; ++i) {
      absl::StatusOr<SseEvent> e = s->Next();
      ASSERT_TRUE(e.ok()) << e.status();
      EXPECT_EQ(e->data, absl::StrCat("event-", i));
    }
  }
  EXPECT_EQ(Sample(gw, "tailgate_publish_total{result=\"ok\"}"), 10);
  EXPECT_EQ(Sample(gw, "tailgate_events_appended_total"), 10);
  EXPECT_EQ(Sample(gw, "tailgate_watermark"), static_cast<double>(last_id));
  EXPECT_EQ(WaitForSample(gw, "tailgate_sse_events_sent_total{source=\"cache\"}", 30), 30);
  EXPECT_EQ(WaitForSample(gw, "tailgate_sse_event_bytes_sent_total", 3.0 * frame_bytes),
            3.0 * frame_bytes);
  EXPECT_EQ(Sample(gw, "tailgate_sse_events_sent_total{source=\"store\"}"), 0);
  EXPECT_EQ(
      Sample(gw,
             "tailgate_grpc_server_handled_total{method=\"/tailgate.v1.Publisher/Publish\",code=\"ok\"}"),
      10);
  EXPECT_EQ(
      Sample(gw, "tailgate_grpc_server_handling_seconds_count{method=\"/tailgate.v1.Publisher/Publish\"}"),
      10);
  const double commits = Sample(gw, "tailgate_commits_total");
  EXPECT_GE(commits, 1);
  EXPECT_LE(commits, 10);
  EXPECT_EQ(Sample(gw, "tailgate_commit_batch_events_count"), commits);
  EXPECT_EQ(Sample(gw, "tailgate_commit_batch_events_sum"), 10);
  EXPECT_EQ(Sample(gw, "tailgate_commit_latency_seconds_count"), commits);
  EXPECT_GE(Sample(gw, "tailgate_sse_lag_events_count"), 3);

  // One subscriber leaves: the gauge goes down, the close is counted.
  subs.back()->Close();
  subs.pop_back();
  EXPECT_EQ(WaitForSample(gw, "tailgate_sse_connections", 2), 2);
  EXPECT_EQ(Sample(gw, "tailgate_sse_connections_closed_total{reason=\"client_closed\"}"), 1);

  // Rejected and idempotent publishes.
  EXPECT_EQ(Publish(stub.get(), "bad topic", "x").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Publish(stub.get(), "m.x", std::string(2 << 20, 'a')).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(Publish(stub.get(), "m.k", "once", "key-1").ok());
  v1::PublishResponse dup;
  ASSERT_TRUE(Publish(stub.get(), "m.k", "once", "key-1", &dup).ok());
  EXPECT_TRUE(dup.duplicate());
  EXPECT_EQ(Sample(gw, "tailgate_publish_total{result=\"ok\"}"), 11);
  EXPECT_EQ(Sample(gw, "tailgate_publish_total{result=\"duplicate\"}"), 1);
  EXPECT_EQ(Sample(gw, "tailgate_publish_total{result=\"invalid\"}"), 1);
  EXPECT_EQ(Sample(gw, "tailgate_publish_total{result=\"too_large\"}"), 1);
  EXPECT_EQ(Sample(gw, "tailgate_events_appended_total"), 11);
  EXPECT_EQ(
      Sample(gw,
             "tailgate_grpc_server_handled_total{method=\"/tailgate.v1.Publisher/Publish\",code=\"invalid_argument\"}"),
      1);

  // HTTP errors by status.
  const double before_400 = Sample(gw, "tailgate_http_responses_total{code=\"400\"}");
  const double before_404 = Sample(gw, "tailgate_http_responses_total{code=\"404\"}");
  EXPECT_EQ(HttpFetch("127.0.0.1", gw.http_port, "GET", "/v1/events")->status, 400);
  EXPECT_EQ(HttpFetch("127.0.0.1", gw.http_port, "GET", "/v1/events?topic=a..b")->status, 400);
  EXPECT_EQ(HttpFetch("127.0.0.1", gw.http_port, "GET", "/nowhere")->status, 404);
  EXPECT_EQ(Sample(gw, "tailgate_http_responses_total{code=\"400\"}"), before_400 + 2);
  EXPECT_EQ(Sample(gw, "tailgate_http_responses_total{code=\"404\"}"), before_404 + 1);

  // promtool accepts the real scrape of a gateway that published and served.
  const std::string path = MakeTempDir("scrape") + "/metrics.txt";
  {
    std::ofstream out(path);
    out << Scrape(gw);
  }
  const char* promtool = "/usr/bin/promtool";
  if (std::FILE* f = std::fopen(promtool, "r")) {
    std::fclose(f);
  } else {
    GTEST_FAIL() << "promtool missing: run bazel/setup (Debian package prometheus)";
  }
  auto [status, output] = Shell(std::string(promtool) + " check metrics < " + path);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "") << "promtool lint findings";

  subs.clear();
  EXPECT_EQ(WaitForSample(gw, "tailgate_sse_connections", 0), 0);
}

// Replay behind the tail cache counts as "store"; heartbeats and resets are
// counted; per-topic gauges are opt-in and bounded to the top N.
TEST(MetricsEndpointTest, StoreReplayHeartbeatsAndTopTopics) {
  RunningGateway gw = StartGateway(
      MakeTempDir("metrics2"),
      {"--tail_cache_events=0", "--heartbeat=200ms", "--metrics_topics",
       "--metrics_topics_limit=2", "--metrics_interval=50ms"});
  ASSERT_GT(gw.http_port, 0);
  auto stub = v1::Publisher::NewStub(gw.Channel());
  uint64_t last_b = 0;
  for (const auto& [topic, n] : std::vector<std::pair<std::string, int>>{
           {"t.a", 3}, {"t.b", 2}, {"t.c", 1}}) {
    for (int i = 0; i < n; ++i) {
      v1::PublishResponse res;
      ASSERT_TRUE(Publish(stub.get(), topic, "x", "", &res).ok());
      if (topic == "t.b") last_b = res.id();
    }
  }
  std::unique_ptr<SseClient> s = Subscribe(gw, "topic=t.*&since=earliest");
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(s->Next().ok());
  EXPECT_EQ(WaitForSample(gw, "tailgate_sse_events_sent_total{source=\"store\"}", 6), 6);
  EXPECT_EQ(Sample(gw, "tailgate_sse_events_sent_total{source=\"cache\"}"), 0);
  ASSERT_TRUE(s->NextComment(absl::Seconds(10)).ok());
  EXPECT_GE(WaitForSample(gw, "tailgate_sse_heartbeats_total", 1), 1);

  // An id above every assigned one gets a reset.
  std::unique_ptr<SseClient> r = Subscribe(gw, "topic=t.*&lastEventId=9000000000000000");
  ASSERT_NE(r, nullptr);
  absl::StatusOr<SseEvent> reset = r->Next();
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ(reset->type, "tailgate.reset");
  EXPECT_EQ(WaitForSample(gw, "tailgate_sse_resets_total", 1), 1);

  // Top two topics by retained events, refreshed off the event loop.
  EXPECT_EQ(WaitForSample(gw, "tailgate_topic_events{topic=\"t.a\"}", 3), 3);
  EXPECT_EQ(Sample(gw, "tailgate_topic_events{topic=\"t.b\"}"), 2);
  EXPECT_EQ(Sample(gw, "tailgate_topic_events{topic=\"t.c\"}"), -1) << "beyond the top 2";
  EXPECT_EQ(Sample(gw, "tailgate_topic_last_id{topic=\"t.b\"}"), static_cast<double>(last_b));
  EXPECT_EQ(WaitForSample(gw, "tailgate_store_events", 6), 6);
  EXPECT_EQ(Sample(gw, "tailgate_store_topics"), 3);
  EXPECT_EQ(Sample(gw, "tailgate_store_data_bytes"), 6);
}

}  // namespace
}  // namespace tailgate::testing

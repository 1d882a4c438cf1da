// Two gateway processes sharing one NATS JetStream stream: events published
// through gateway A reach an SSE subscriber on gateway B exactly once and in
// order, also when B is SIGKILLed and the subscriber resumes with
// Last-Event-ID on a restarted B. Plus the --store / --nats_* flag checks, and
// what the log line, stats and tailgatectl say about durability and bytes.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tailgate/v1/admin.grpc.pb.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/testing/gateway_process.h"
#include "tests/testing/http_client.h"
#include "tests/testing/nats_server.h"
#include "tests/testing/process.h"
#include "tests/testing/sse_client.h"

namespace tailgate {
namespace {

using ::tailgate::testing::HttpFetch;
using ::tailgate::testing::NatsServer;
using ::tailgate::testing::Process;
using ::tailgate::testing::RunningGateway;
using ::tailgate::testing::StartGatewayProcess;
using ::tailgate::testing::SseClient;
using ::tailgate::testing::SseEvent;
using ::tailgate::testing::ValueAfter;

constexpr char kCtlBinary[] = "gateway/tailgatectl";


// A gateway on the JetStream backend, `extra` flags after the common ones.
RunningGateway StartNode(const std::string& nats_url, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> flags = {"--store=jetstream", "--nats_url=" + nats_url,
                                    "--nats_stream=TGTEST", "--nats_subject_prefix=tgtest",
                                    "--heartbeat=1s",
                                    // JetStream reserves the stream's byte limit up front;
                                    // the 10 GiB default fails on a disk with less free.
                                    "--retention_max_bytes=67108864"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  RunningGateway n = StartGatewayProcess(flags);
  if (n.process) {
    EXPECT_NE(n.process->output().find("backend jetstream"), std::string::npos)
        << n.process->output();
  }
  return n;
}

// Publishes `data` on `topic` through the node's gRPC Publisher; the event id.
uint64_t Publish(v1::Publisher::Stub& stub, const std::string& topic, const std::string& data) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::PublishRequest req;
  req.set_topic(topic);
  req.set_data(data);
  req.set_idempotency_key(data);
  v1::PublishResponse res;
  grpc::Status s = stub.Publish(&ctx, req, &res);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(res.duplicate()) << data;
  return res.id();
}

// Reads `n` events; each must carry the next expected (id, data).
void ExpectEvents(SseClient& sse, const std::vector<std::pair<uint64_t, std::string>>& want,
                  size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    absl::StatusOr<SseEvent> e = sse.Next(absl::Seconds(30));
    ASSERT_TRUE(e.ok()) << "event " << i << ": " << e.status();
    EXPECT_EQ(e->last_event_id, absl::StrCat(want[i].first)) << "event " << i;
    EXPECT_EQ(e->data, want[i].second) << "event " << i;
  }
}

TEST(GatewayJetStreamTest, TwoNodesShareTheStreamAcrossSigkill) {
  NatsServer nats;
  RunningGateway a = StartNode(nats.url());
  ASSERT_FALSE(a.grpc.empty());
  RunningGateway b = StartNode(nats.url());
  ASSERT_NE(b.http_port, 0);

  auto stub = v1::Publisher::NewStub(
      grpc::CreateChannel(a.grpc, grpc::InsecureChannelCredentials()));
  // History before the subscriber exists (read back from the stream on B),
  // and an event of another topic that must be skipped.
  std::vector<std::pair<uint64_t, std::string>> want;
  for (int i = 0; i < 5; ++i) {
    const std::string data = absl::StrCat("e", i);
    want.emplace_back(Publish(*stub, "orders", data), data);
  }
  Publish(*stub, "other", "skip-me");
  for (size_t i = 1; i < want.size(); ++i) ASSERT_GT(want[i].first, want[i - 1].first);

  // Resume from the first event: B replays the rest, then follows live.
  const std::string resume = absl::StrCat(want[0].first);
  {
    auto sse = SseClient::Connect("127.0.0.1", b.http_port, "/v1/events?topic=orders",
                                  {{"Last-Event-ID", resume}});
    ASSERT_TRUE(sse.ok()) << sse.status();
    ASSERT_EQ((*sse)->status(), 200) << (*sse)->body();
    ExpectEvents(**sse, want, 1, want.size());
    for (int i = 5; i < 25; ++i) {
      const std::string data = absl::StrCat("e", i);
      want.emplace_back(Publish(*stub, "orders", data), data);
      if (i % 3 == 0) Publish(*stub, "other", absl::StrCat("skip", i));
    }
    ExpectEvents(**sse, want, 5, want.size());
    // Nothing more: the next thing on the stream is a heartbeat, not an event.
    ASSERT_TRUE((*sse)->NextComment(absl::Seconds(10)).ok());
    EXPECT_EQ((*sse)->last_event_id(), absl::StrCat(want.back().first));
  }
  const size_t seen = want.size();

  // B crashes; publishing through A goes on.
  int status = b.process->Signal(SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  for (int i = 25; i < 40; ++i) {
    const std::string data = absl::StrCat("e", i);
    want.emplace_back(Publish(*stub, "orders", data), data);
  }
  // B again; the subscriber resumes where it stopped.
  RunningGateway b2 = StartNode(nats.url());
  ASSERT_NE(b2.http_port, 0);
  auto sse = SseClient::Connect("127.0.0.1", b2.http_port, "/v1/events?topic=orders",
                                {{"Last-Event-ID", absl::StrCat(want[seen - 1].first)}});
  ASSERT_TRUE(sse.ok()) << sse.status();
  ASSERT_EQ((*sse)->status(), 200) << (*sse)->body();
  ExpectEvents(**sse, want, seen, want.size());
  for (int i = 40; i < 45; ++i) {
    const std::string data = absl::StrCat("e", i);
    want.emplace_back(Publish(*stub, "orders", data), data);
  }
  ExpectEvents(**sse, want, seen + 15, want.size());
  ASSERT_TRUE((*sse)->NextComment(absl::Seconds(10)).ok());
  EXPECT_EQ((*sse)->last_event_id(), absl::StrCat(want.back().first));

  // Readiness on a connected node.
  auto ready = HttpFetch("127.0.0.1", b2.http_port, "GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200) << ready->body;
}

// --nats_url takes a comma-separated list and the gateway tries every entry:
// here the first has no server behind it (port 1 refuses at once).
TEST(GatewayJetStreamTest, NatsUrlListTriesEveryServer) {
  NatsServer nats;
  RunningGateway n = StartNode(absl::StrCat("nats://127.0.0.1:1, ", nats.url()));
  ASSERT_NE(n.http_port, 0);
  auto ready = HttpFetch("127.0.0.1", n.http_port, "GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200) << ready->body;
}

TEST(GatewayJetStreamTest, ReadinessFollowsTheNatsConnection) {
  NatsServer nats;
  RunningGateway n = StartNode(nats.url(), {"--metrics_interval=100ms"});
  ASSERT_NE(n.http_port, 0);
  auto ready = HttpFetch("127.0.0.1", n.http_port, "GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200) << ready->body;
  nats.Kill();
  // The gateway logs the transition once its next health evaluation sees
  // the connection down, and back once NATS is there again.
  ASSERT_TRUE(n.process->WaitForLine("not ready").has_value()) << n.process->output();
  auto down = HttpFetch("127.0.0.1", n.http_port, "GET", "/readyz");
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_EQ(down->status, 503) << down->body;
  nats.Restart();
  ASSERT_TRUE(n.process->WaitForLine("ready again").has_value()) << n.process->output();
  auto up = HttpFetch("127.0.0.1", n.http_port, "GET", "/readyz");
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->status, 200) << up->body;
}

// --durability is RocksDB's: on JetStream neither the start-up line nor stats
// may claim "fsync"; per-topic bytes, which JetStream does not keep, show as
// unknown rather than as a 0 that contradicts stats.
TEST(GatewayJetStreamTest, DurabilityAndTopicBytesAreNotRocksDbs) {
  NatsServer nats;
  RunningGateway n = StartNode(nats.url());
  ASSERT_NE(n.http_port, 0);
  const std::string& out = n.process->output();
  const std::string starting = out.substr(out.find("starting:"), out.find('\n', out.find("starting:")) - out.find("starting:"));
  EXPECT_EQ(starting.find("durability"), std::string::npos) << starting;
  EXPECT_NE(starting.find("replicas=1"), std::string::npos) << starting;
  auto publisher = v1::Publisher::NewStub(n.Channel());
  Publish(*publisher, "bytes.a", "some-data");
  auto admin = v1::Admin::NewStub(n.Channel());
  grpc::ClientContext stats_ctx;
  v1::GetStatsResponse stats;
  ASSERT_TRUE(admin->GetStats(&stats_ctx, v1::GetStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.durability(), "jetstream, replicas=1");
  EXPECT_GT(stats.bytes(), 0u);
  FILE* f = ::popen(absl::StrCat(kCtlBinary, " --server=", n.grpc, " topics 2>&1").c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string topics;
  char buf[4096];
  for (size_t k; (k = fread(buf, 1, sizeof buf, f)) > 0;) topics.append(buf, k);
  EXPECT_EQ(::pclose(f), 0) << topics;
  const size_t row = topics.find("bytes.a");
  ASSERT_NE(row, std::string::npos) << topics;
  const std::string line = topics.substr(row, topics.find('\n', row) - row);
  EXPECT_EQ(line.back(), '-') << line;
}

// Runs the binary with `flags` and expects exit 2 with `message` on stderr.
void ExpectUsageError(const std::vector<std::string>& flags, const std::string& message) {
  std::vector<std::string> argv = {testing::kGatewayBinary, "--http_listen=127.0.0.1:0",
                                   "--grpc_listen=127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Process p(argv);
  int status = p.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << p.output();
  EXPECT_EQ(WEXITSTATUS(status), 2) << p.output();
  EXPECT_NE(p.output().find(message), std::string::npos) << p.output();
}

TEST(GatewayJetStreamFlagsTest, InvalidStoreFlagsExit2) {
  ExpectUsageError({"--store=jetstream"}, "--store=jetstream needs --nats_url");
  ExpectUsageError({"--store=kafka"}, "--store must be rocksdb or jetstream, got 'kafka'");
  ExpectUsageError({"--store=jetstream", "--nats_url=nats://127.0.0.1:1", "--nats_replicas=0"},
                   "--nats_replicas must be in [1, 5]");
  ExpectUsageError({"--store=jetstream", "--nats_url=nats://127.0.0.1:1", "--nats_stream=a.b"},
                   "--nats_stream must be");
  ExpectUsageError(
      {"--store=jetstream", "--nats_url=nats://127.0.0.1:1", "--nats_subject_prefix=a.>"},
      "--nats_subject_prefix must be");
}

}  // namespace
}  // namespace tailgate

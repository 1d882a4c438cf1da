// /healthz, /readyz and gRPC health of the real binary, readiness turning off
// on SIGTERM, and flag validation (exit 2 naming the flag) and --flagfile.
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/ops/ops_testing.h"

namespace tailgate::testing {
namespace {

grpc::health::v1::HealthCheckResponse::ServingStatus Health(const RunningGateway& gw) {
  auto stub = grpc::health::v1::Health::NewStub(gw.Channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse res;
  grpc::Status s = stub->Check(&ctx, req, &res);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return res.status();
}

TEST(HealthTest, HealthzReadyzAndGrpcHealthReflectDraining) {
  RunningGateway gw = StartGateway(MakeTempDir("health"), {"--drain_grace=3s"});
  ASSERT_GT(gw.http_port, 0);
  absl::StatusOr<HttpResult> healthz = HttpFetch("127.0.0.1", gw.http_port, "GET", "/healthz");
  ASSERT_TRUE(healthz.ok()) << healthz.status();
  EXPECT_EQ(healthz->status, 200);
  EXPECT_EQ(healthz->body, "ok\n");
  absl::StatusOr<HttpResult> readyz = HttpFetch("127.0.0.1", gw.http_port, "GET", "/readyz");
  ASSERT_TRUE(readyz.ok()) << readyz.status();
  EXPECT_EQ(readyz->status, 200);
  EXPECT_EQ(readyz->body, "ready\n");
  EXPECT_EQ(HttpFetch("127.0.0.1", gw.http_port, "POST", "/readyz")->status, 405);
  EXPECT_EQ(HttpFetch("127.0.0.1", gw.http_port, "POST", "/metrics")->status, 405);
  EXPECT_EQ(Health(gw), grpc::health::v1::HealthCheckResponse::SERVING);

  // SIGTERM: readiness is off at once, the process still answers during
  // --drain_grace, then drains and exits 0.
  ASSERT_EQ(::kill(gw.process->pid(), SIGTERM), 0);
  ASSERT_TRUE(gw.process->WaitForLine("drain: still serving").has_value()) << gw.process->output();
  readyz = HttpFetch("127.0.0.1", gw.http_port, "GET", "/readyz");
  ASSERT_TRUE(readyz.ok()) << readyz.status();
  EXPECT_EQ(readyz->status, 503);
  EXPECT_EQ(readyz->body, "not ready: draining\n");
  EXPECT_EQ(readyz->headers["retry-after"], "5");
  EXPECT_EQ(HttpFetch("127.0.0.1", gw.http_port, "GET", "/healthz")->status, 200);
  EXPECT_EQ(Sample(gw, "tailgate_ready"), 0);
  EXPECT_EQ(Health(gw), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(gw.process->WaitForLine("stopped: drained in").has_value()) << gw.process->output();
  const int status = gw.process->Wait();
  ASSERT_TRUE(WIFEXITED(status)) << gw.process->output();
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ConfigTest, InvalidValuesExit2NamingTheFlag) {
  const std::string dir = MakeTempDir("badflags");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--heartbeat=soon", "--heartbeat=soon"},
      {"--max_connections=lots", "--max_connections=lots"},
      {"--max_connections=0", "--max_connections must be >= 1"},
      {"--http_threads=-1", "--http_threads must be >= 0"},
      {"--tail_cache_bytes=-5", "--tail_cache_events and --tail_cache_bytes must be >= 0"},
      {"--max_data_bytes=0", "--max_data_bytes must be in"},
      {"--drain_timeout=-1s", "--drain_timeout must be >= 0"},
      {"--durability=sometimes", "durability"},
      {"--log_format=xml", "--log_format must be text or json"},
      {"--log_level=loud", "--log_level"},
      {"--retention=orders.>", "--retention: 'orders.>': expected PATTERN=LIMIT"},
      {"--retention=orders..x=7d", "--retention: 'orders..x=7d'"},
      {"--retention=orders.>=7d:8d", "two ages"},
      {"--retention_default_age=week", "--retention_default_age: 'week' is not a duration"},
      {"--retention_default_events=-1", "--retention_default_events must be >= 0"},
      {"--retention_max_bytes=-1", "--retention_max_bytes must be >= 0"},
      {"--metrics_topics_limit=0", "--metrics_topics_limit must be in [1, 10000]"},
      {"--metrics_interval=0s", "--metrics_interval must be > 0"},
      {"--no_such_flag=1", "unknown flag --no_such_flag"},
      {"stray", "unexpected argument 'stray'"},
  };
  for (const auto& [flag, message] : cases) {
    auto [status, output] = Shell(std::string(kGatewayBinary) +
                                  " --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 "
                                  "--data_dir=" + dir + " '" + flag + "'");
    EXPECT_EQ(status, 2) << flag << ": " << output;
    EXPECT_NE(output.find(message), std::string::npos) << flag << ": " << output;
    EXPECT_EQ(output.find("tailgate ready"), std::string::npos) << flag;
  }
}

TEST(ConfigTest, HelpListsTheOperationsFlags) {
  auto [status, output] = Shell(std::string(kGatewayBinary) + " --help");
  for (const char* flag : {"--admin", "--log_format", "--log_level", "--metrics_topics",
                           "--retention", "--retention_default_age", "--retention_max_bytes",
                           "--slow_commit", "--drain_grace", "--data_dir"}) {
    EXPECT_NE(output.find(std::string(flag) + " ("), std::string::npos) << flag << "\n" << output;
  }
}

// The example flag file in gateway/deploy is valid; later flags override it.
TEST(ConfigTest, ExampleFlagfileStartsAGateway) {
  const std::string dir = MakeTempDir("flagfile2");
  Process p({kGatewayBinary, "--flagfile=gateway/deploy/tailgate.flags",
             "--http_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0", "--data_dir=" + dir,
             "--log_format=json", "--drain_grace=0s"});
  std::optional<std::string> ready = p.WaitForLine("tailgate ready");
  ASSERT_TRUE(ready.has_value()) << p.output();
  EXPECT_EQ(ready->rfind("{", 0), 0u) << "JSON lines: " << *ready;
  EXPECT_NE(p.output().find("retention: default 168h"), std::string::npos) << p.output();
  const int status = p.Signal(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << p.output();
}

}  // namespace
}  // namespace tailgate::testing

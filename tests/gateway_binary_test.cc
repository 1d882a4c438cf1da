// Runs the real //gateway:tailgate binary on loopback and checks it from the
// outside: listeners on port 0, /healthz, gRPC health, clean SIGTERM.
#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

namespace tailgate {
namespace {

using ::tailgate::testing::HttpFetch;
using ::tailgate::testing::MakeTempDir;
using ::tailgate::testing::Process;
using ::tailgate::testing::ValueAfter;

constexpr char kBinary[] = "gateway/tailgate";

class GatewayBinaryTest : public ::testing::Test {
 protected:
  void StartGateway(const std::string& data_dir) {
    proc_ = std::make_unique<Process>(std::vector<std::string>{
        kBinary, "--http_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0",
        "--data_dir=" + data_dir});
    std::optional<std::string> ready = proc_->WaitForLine("tailgate ready");
    ASSERT_TRUE(ready.has_value()) << proc_->output();
    http_ = ValueAfter(*ready, "http=");
    grpc_ = ValueAfter(*ready, "grpc=");
    http_port_ = std::stoi(http_.substr(http_.rfind(':') + 1));
  }

  std::unique_ptr<Process> proc_;
  std::string http_;
  std::string grpc_;
  int http_port_ = 0;
};

TEST_F(GatewayBinaryTest, LogsBoundAddressesForPortZero) {
  StartGateway(MakeTempDir("gw"));
  EXPECT_EQ(http_.rfind("127.0.0.1:", 0), 0u) << http_;
  EXPECT_EQ(grpc_.rfind("127.0.0.1:", 0), 0u) << grpc_;
  EXPECT_NE(http_port_, 0);
  EXPECT_NE(grpc_.substr(grpc_.rfind(':') + 1), "0");
}

TEST_F(GatewayBinaryTest, HealthzAnswers200AndUnknownPathsAnswer404) {
  StartGateway(MakeTempDir("gw"));
  auto ok = HttpFetch("127.0.0.1", http_port_, "GET", "/healthz");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "ok\n");
  auto missing = HttpFetch("127.0.0.1", http_port_, "GET", "/nope");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);
  auto post = HttpFetch("127.0.0.1", http_port_, "POST", "/healthz");
  ASSERT_TRUE(post.ok()) << post.status();
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->headers["allow"], "GET, HEAD");
}

TEST_F(GatewayBinaryTest, GrpcHealthCheckIsServing) {
  StartGateway(MakeTempDir("gw"));
  auto channel = grpc::CreateChannel(grpc_, grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse res;
  grpc::Status s = stub->Check(&ctx, req, &res);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(res.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(GatewayBinaryTest, SigtermExitsZero) {
  StartGateway(MakeTempDir("gw"));
  int status = proc_->Signal(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << "\n" << proc_->output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << proc_->output();
  EXPECT_NE(proc_->output().find("stopped"), std::string::npos) << proc_->output();
}

TEST_F(GatewayBinaryTest, SecondProcessOnSameDataDirFailsClearly) {
  const std::string dir = MakeTempDir("gw");
  StartGateway(dir);
  Process second({kBinary, "--http_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0",
                  "--data_dir=" + dir});
  int status = second.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << second.output();
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(second.output().find(dir), std::string::npos) << second.output();
}

TEST_F(GatewayBinaryTest, MalformedListenFlagFailsFast) {
  Process bad({kBinary, "--http_listen=127.0.0.1", "--grpc_listen=127.0.0.1:0",
               "--data_dir=" + MakeTempDir("gw")});
  int status = bad.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(bad.output().find("--http_listen=127.0.0.1: missing port"), std::string::npos)
      << bad.output();
}

// "*" with credentials would echo every origin with
// Access-Control-Allow-Credentials: any site could read a logged-in user's
// stream with cookie auth. Refused at start, like any other invalid flag.
TEST_F(GatewayBinaryTest, AnyCorsOriginWithCredentialsIsRefused) {
  for (const char* origins : {"*", "https://a.example, *"}) {
    Process bad({kBinary, "--http_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0",
                 "--data_dir=" + MakeTempDir("gw"), std::string("--cors_origins=") + origins,
                 "--cors_credentials"});
    int status = bad.Wait();
    ASSERT_TRUE(WIFEXITED(status)) << bad.output();
    EXPECT_EQ(WEXITSTATUS(status), 2) << bad.output();
    EXPECT_NE(bad.output().find("--cors_origins=* cannot be combined with --cors_credentials"),
              std::string::npos)
        << bad.output();
    EXPECT_EQ(bad.output().find("tailgate ready"), std::string::npos) << bad.output();
  }
}

}  // namespace
}  // namespace tailgate

// Runs the real //gateway:tailgate binary on loopback and checks it from the
// outside: listeners on port 0, /healthz, gRPC health and its reflection,
// clean SIGTERM, relative paths under `bazel run`.
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include <google/protobuf/descriptor.pb.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
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
  void StartGateway(const std::string& data_dir, std::vector<std::string> prefix = {}) {
    std::vector<std::string> argv = std::move(prefix);
    for (const std::string& a : {std::string(kBinary), std::string("--http_listen=127.0.0.1:0"),
                                 std::string("--grpc_listen=127.0.0.1:0"), "--data_dir=" + data_dir}) {
      argv.push_back(a);
    }
    proc_ = std::make_unique<Process>(argv);
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

// What `grpcurl describe grpc.health.v1.Health` asks: the health service's
// file descriptor, which reflection finds only when the gateway links the
// generated health proto (gRPC's own health service does not register one).
TEST_F(GatewayBinaryTest, ReflectionDescribesTheHealthService) {
  StartGateway(MakeTempDir("gw"));
  namespace refl = grpc::reflection::v1alpha;
  auto stub = refl::ServerReflection::NewStub(
      grpc::CreateChannel(grpc_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->ServerReflectionInfo(&ctx);
  refl::ServerReflectionRequest req;
  req.set_file_containing_symbol("grpc.health.v1.Health");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  refl::ServerReflectionResponse res;
  ASSERT_TRUE(stream->Read(&res));
  ASSERT_TRUE(res.has_file_descriptor_response()) << res.error_response().error_message();
  bool found = false;
  for (const std::string& bytes : res.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    for (const auto& service : file.service()) {
      if (file.package() != "grpc.health.v1" || service.name() != "Health") continue;
      found = true;
      ASSERT_EQ(service.method_size(), 2);
      EXPECT_EQ(service.method(0).name(), "Check");
      EXPECT_EQ(service.method(1).name(), "Watch");
    }
  }
  EXPECT_TRUE(found);
  while (stream->Read(&res)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

// Under `bazel run` (BUILD_WORKING_DIRECTORY set) a relative --data_dir is
// the user's directory, not the runfiles tree the binary starts in.
TEST_F(GatewayBinaryTest, RelativeDataDirResolvesAgainstBuildWorkingDirectory) {
  const std::string user_dir = MakeTempDir("bwd");
  StartGateway("rel-data", {"/usr/bin/env", "BUILD_WORKING_DIRECTORY=" + user_dir});
  EXPECT_TRUE(std::filesystem::is_directory(user_dir + "/rel-data")) << proc_->output();
  EXPECT_FALSE(std::filesystem::exists("rel-data"));
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

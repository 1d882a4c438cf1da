// Presence and revocation flags on the real binary: --revocations_file
// (written by tailgatectl revoke, read again after a restart),
// --metrics_subscribers, and the limit flag's validation.
#include <signal.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/ops/ops_testing.h"
#include "tests/testing/sse_client.h"

namespace tailgate::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

int RefusedStatus(const RunningGateway& gw, const std::string& target) {
  absl::StatusOr<HttpResult> r = HttpFetch("127.0.0.1", gw.http_port, "GET", target);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->status : 0;
}

TEST(PresenceOpsTest, RevocationsFileAndSubscriberGauges) {
  const std::string dir = MakeTempDir("presence_ops");
  const std::string file = MakeTempDir("presence_ops_rev") + "/revocations";
  const std::vector<std::string> flags = {"--revocations_file=" + file, "--metrics_subscribers",
                                          "--metrics_subscribers_limit=5"};
  RunningGateway gw = StartGateway(dir + "/data", flags);
  ASSERT_GT(gw.http_port, 0);
  const std::string ctl = std::string(kCtlBinary) + " --server=" + gw.grpc + " ";

  // Without auth, a pattern revocation still takes subscribers off.
  auto [status, out] = Shell(ctl + "revoke --pattern='secret.>' --for=1h");
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("revoked pattern secret.> until "), std::string::npos) << out;
  EXPECT_NE(ReadAll(file).find("\npattern "), std::string::npos) << ReadAll(file);
  EXPECT_EQ(RefusedStatus(gw, "/v1/events?topic=secret.x"), 403);

  absl::StatusOr<std::unique_ptr<SseClient>> sse =
      SseClient::Connect("127.0.0.1", gw.http_port, "/v1/events?topic=orders.>", {});
  ASSERT_TRUE(sse.ok()) << sse.status();
  ASSERT_EQ((*sse)->status(), 200);
  EXPECT_EQ(WaitForSample(gw, "tailgate_subscribers{pattern=\"orders.>\"}", 1), 1);
  (*sse)->Close();
  EXPECT_EQ(WaitForSample(gw, "tailgate_subscribers{pattern=\"orders.>\"}", -1), -1)
      << "no stream, no series";

  // Read back after a restart.
  EXPECT_EQ(gw.process->Signal(SIGTERM), 0);
  gw = StartGateway(dir + "/data", flags);
  ASSERT_GT(gw.http_port, 0);
  EXPECT_NE(gw.process->output().find("1 revocation(s) in effect, from " + file),
            std::string::npos)
      << gw.process->output();
  EXPECT_EQ(RefusedStatus(gw, "/v1/events?topic=secret.x"), 403);
  auto [list_status, list] =
      Shell(std::string(kCtlBinary) + " --server=" + gw.grpc + " revocations");
  EXPECT_EQ(list_status, 0) << list;
  EXPECT_NE(list.find("pattern  secret.> "), std::string::npos) << list;
}

TEST(PresenceOpsTest, LimitFlagIsValidated) {
  auto [status, output] = Shell(std::string(kGatewayBinary) +
                                " --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 --data_dir=" +
                                MakeTempDir("presence_flags") + " --metrics_subscribers_limit=0");
  EXPECT_EQ(status, 2) << output;
  EXPECT_NE(output.find("--metrics_subscribers_limit must be in [1, 10000]"), std::string::npos)
      << output;
}

}  // namespace
}  // namespace tailgate::testing

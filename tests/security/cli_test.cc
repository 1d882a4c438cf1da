// The bundled tools against a secured gateway, all real binaries: JWT auth on
// publish and subscribe (ES256, tokens minted by `tailgatectl token`), gRPC
// over mutual TLS with a test-made CA. tailgate_publish with a token (flag,
// file, environment), without one (UNAUTHENTICATED), without a client
// certificate; --stdin printing each id on its ack; tailgatectl stats with an
// admin token; --help of both tools.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"  // security_testing.h uses absl::Now
#include "tests/security/security_testing.h"
#include "tests/testing/gateway_process.h"
#include "tests/testing/process.h"

namespace tailgate::testing {
namespace {

constexpr char kPublish[] = "gateway/tailgate_publish";
constexpr char kCtl[] = "gateway/tailgatectl";


class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("cli"));
    pki_ = new Pki(MakePki(*dir_));
    const int rc = std::system(absl::StrCat(
        "cd '", *dir_, "' && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
        "-out jwt.key 2>/dev/null && openssl pkey -in jwt.key -pubout -out jwt.pub").c_str());
    ASSERT_EQ(rc, 0) << "openssl CLI failed";
    gw_ = new RunningGateway(StartGatewayProcess({
        "--data_dir=" + *dir_ + "/data", "--auth_publish=required", "--auth_subscribe=required",
        "--jwt_algorithms=ES256", "--jwt_public_key_file=" + *dir_ + "/jwt.pub",
        "--grpc_tls_cert=" + pki_->server_cert, "--grpc_tls_key=" + pki_->server_key,
        "--grpc_tls_client_ca=" + pki_->ca_cert}));
    // Tokens made by the tool under test, from the key the gateway trusts.
    for (const auto& [file, grants] :
         std::vector<std::pair<std::string, std::string>>{
             {"publisher.jwt", "--publish='orders.>' --subscribe='orders.>'"},
             {"admin.jwt", "--admin"}}) {
      auto [status, out] = Shell(absl::StrCat(kCtl, " token --key=", *dir_, "/jwt.key --sub=cli-test ",
                                              grants, " --ttl=10m > ", *dir_, "/", file));
      ASSERT_EQ(status, 0) << out;
    }
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete pki_;
    delete dir_;
  }

  // A tool's command line with mutual TLS to the gateway.
  static std::string Tool(const char* binary) {
    return absl::StrCat(binary, " --server=", gw_->grpc, " --tls_ca=", pki_->ca_cert,
                        " --tls_cert=", pki_->client_cert, " --tls_key=", pki_->client_key);
  }
  static std::string TokenFile(const char* name) { return *dir_ + "/" + name; }

  static std::string* dir_;
  static Pki* pki_;
  static RunningGateway* gw_;
};

std::string* CliTest::dir_ = nullptr;
Pki* CliTest::pki_ = nullptr;
RunningGateway* CliTest::gw_ = nullptr;

TEST_F(CliTest, PublishWithAMintedTokenOverMutualTls) {
  ASSERT_GT(gw_->http_port, 0);
  const std::string token = ReadFileOrDie(TokenFile("publisher.jwt"));
  auto [status, out] = Shell(Tool(kPublish) + " --token_file=" + TokenFile("publisher.jwt") +
                             " --topic=orders.1 '{\"n\":1}'");
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out.find_first_not_of("0123456789\n"), std::string::npos) << out;
  // The same token from the environment, and from --token (with the server
  // name checked against the certificate's DNS name).
  auto [env_status, env_out] = Shell("TAILGATE_TOKEN=$(cat " + TokenFile("publisher.jwt") + ") " +
                                     Tool(kPublish) + " --topic=orders.2 x");
  EXPECT_EQ(env_status, 0) << env_out;
  auto [flag_status, flag_out] = Shell(Tool(kPublish) + " --tls_server_name=localhost --token=" +
                                       token.substr(0, token.find('\n')) + " --topic=orders.3 x");
  EXPECT_EQ(flag_status, 0) << flag_out;
}

TEST_F(CliTest, PublishWithoutATokenIsUnauthenticated) {
  auto [status, out] = Shell("env -u TAILGATE_TOKEN " + Tool(kPublish) + " --topic=orders.1 x");
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("tailgate_publish: UNAUTHENTICATED: "), std::string::npos) << out;
  // A token without the grant: refused by authorization, not authentication.
  auto [denied, denied_out] = Shell(Tool(kPublish) + " --token_file=" + TokenFile("admin.jwt") +
                                    " --topic=orders.1 x");
  EXPECT_EQ(denied, 1) << denied_out;
  EXPECT_NE(denied_out.find("PERMISSION_DENIED"), std::string::npos) << denied_out;
}

TEST_F(CliTest, MutualTlsRefusesAClientWithoutACertificate) {
  auto [status, out] =
      Shell(absl::StrCat(kPublish, " --server=", gw_->grpc, " --tls_ca=", pki_->ca_cert,
                         " --timeout=5s --token_file=", TokenFile("publisher.jwt"),
                         " --topic=orders.1 x"));
  EXPECT_EQ(status, 1) << out;
  EXPECT_EQ(out.rfind("tailgate_publish: ", 0), 0u) << "no id, only the error: " << out;
  EXPECT_NE(out.find("UNAVAILABLE"), std::string::npos) << out;
}

TEST_F(CliTest, TailgatectlStatsWithAnAdminTokenOverTls) {
  auto [status, out] = Shell(Tool(kCtl) + " --token_file=" + TokenFile("admin.jwt") + " stats");
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("watermark "), std::string::npos) << out;
  EXPECT_NE(out.find("durability  fsync"), std::string::npos) << out;
  auto [denied, denied_out] =
      Shell(Tool(kCtl) + " --token_file=" + TokenFile("publisher.jwt") + " stats");
  EXPECT_EQ(denied, 1) << denied_out;
  EXPECT_NE(denied_out.find("tailgatectl: PERMISSION_DENIED: "), std::string::npos) << denied_out;
  auto [none, none_out] = Shell("env -u TAILGATE_TOKEN " + Tool(kCtl) + " stats");
  EXPECT_EQ(none, 1) << none_out;
  EXPECT_NE(none_out.find("UNAUTHENTICATED"), std::string::npos) << none_out;
}

// Reads one line from `fd` within 10 s; "" on timeout or EOF.
std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1 || ::read(fd, &c, 1) != 1) return "";
    if (c == '\n') return line;
    line += c;
  }
}

// Each id arrives while stdin is still open: printed on its ack, not at exit.
TEST_F(CliTest, StdinPrintsEachIdWhenItsEventIsAcknowledged) {
  int in[2], out[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  const std::string command =
      Tool(kPublish) + " --token_file=" + TokenFile("publisher.jwt") + " --topic=orders.s --stdin";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::close(in[1]);
    ::close(out[0]);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  std::string ids;
  for (const std::string line : {"first\n", "second\n"}) {
    ASSERT_EQ(::write(in[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    const std::string id = ReadLine(out[0]);
    EXPECT_FALSE(id.empty()) << "no id within 10 s of writing " << line;
    ids += id + " ";
  }
  ::close(in[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(out[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ids;
}

TEST(CliHelpTest, HelpListsTheConnectionFlagsAndExitsZero) {
  for (const char* binary : {kPublish, kCtl}) {
    auto [status, out] = Shell(std::string(binary) + " --help");
    EXPECT_EQ(status, 0) << binary << "\n" << out;
    for (const char* flag : {"--server (", "--token (", "--token_file (", "--tls_ca (",
                             "--tls_cert (", "--tls_key (", "--tls_server_name ("}) {
      EXPECT_NE(out.find(flag), std::string::npos) << binary << " " << flag << "\n" << out;
    }
  }
  EXPECT_NE(Shell(std::string(kCtl) + " --help").second.find("--subscribe ("), std::string::npos);
}

}  // namespace
}  // namespace tailgate::testing

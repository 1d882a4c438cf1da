// A real //gateway:tailgate process for tests that need the binary (flags,
// signals, restarts, several gateways): started on kernel-picked loopback
// ports, ready once it printed its "tailgate ready" line.
//
// The test must list //gateway:tailgate in its `data`. Not thread-safe: one
// thread drives a RunningGateway (Process's own rules apply to `process`).
#ifndef TAILGATE_TESTS_TESTING_GATEWAY_PROCESS_H_
#define TAILGATE_TESTS_TESTING_GATEWAY_PROCESS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "tests/testing/process.h"

namespace tailgate::testing {

constexpr char kGatewayBinary[] = "gateway/tailgate";

struct RunningGateway {
  std::unique_ptr<Process> process;
  std::string http;  // HOST:PORT
  std::string grpc;  // HOST:PORT
  int http_port = 0;  // 0 when it never got ready (the test has failed then)

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(grpc, grpc::InsecureChannelCredentials());
  }
};

// Starts the binary with --http_listen/--grpc_listen on 127.0.0.1:0 followed
// by `flags`, and waits up to `ready_within` for its ready line (a failed
// EXPECT with the process output when it does not come).
inline RunningGateway StartGatewayProcess(const std::vector<std::string>& flags,
                                          absl::Duration ready_within = absl::Seconds(30)) {
  std::vector<std::string> argv = {kGatewayBinary, "--http_listen=127.0.0.1:0",
                                   "--grpc_listen=127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  RunningGateway gw;
  gw.process = std::make_unique<Process>(argv);
  std::optional<std::string> ready = gw.process->WaitForLine("tailgate ready", ready_within);
  EXPECT_TRUE(ready.has_value()) << gw.process->output();
  if (!ready) return gw;
  gw.http = ValueAfter(*ready, "http=");
  gw.grpc = ValueAfter(*ready, "grpc=");
  EXPECT_TRUE(absl::SimpleAtoi(gw.http.substr(gw.http.rfind(':') + 1), &gw.http_port)) << gw.http;
  return gw;
}

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_TESTING_GATEWAY_PROCESS_H_

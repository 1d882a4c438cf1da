// Shared support for the operations tests: a real //gateway:tailgate process,
// /metrics scrapes parsed into samples, and shell commands.
#ifndef TAILGATE_TESTS_OPS_OPS_TESTING_H_
#define TAILGATE_TESTS_OPS_OPS_TESTING_H_

#include <stdio.h>
#include <sys/wait.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/gateway_process.h"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

namespace tailgate::testing {

constexpr char kCtlBinary[] = "gateway/tailgatectl";

// Starts the binary on port 0 with `data_dir` and waits for its ready line.
inline RunningGateway StartGateway(const std::string& data_dir,
                                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> flags = {"--data_dir=" + data_dir};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return StartGatewayProcess(flags);
}

// The body of GET /metrics (fails the test on a non-200).
inline std::string Scrape(const RunningGateway& gw) {
  absl::StatusOr<HttpResult> r = HttpFetch("127.0.0.1", gw.http_port, "GET", "/metrics");
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->status, 200);
  return r->body;
}

// Samples of an exposition: "name{labels}" (as rendered) -> value.
inline std::map<std::string, double> ParseSamples(const std::string& text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    if (sp == absl::string_view::npos) continue;
    double v = 0;
    if (!absl::SimpleAtod(line.substr(sp + 1), &v)) continue;
    out[std::string(line.substr(0, sp))] = v;
  }
  return out;
}

// The value of one sample, or -1 when absent.
inline double Sample(const RunningGateway& gw, const std::string& series) {
  std::map<std::string, double> samples = ParseSamples(Scrape(gw));
  auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

// Scrapes until `series` equals `want` (metrics of work that completes on
// server threads right after the client saw it), or `timeout`; returns the
// last value seen.
inline double WaitForSample(const RunningGateway& gw, const std::string& series, double want,
                            absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  double v = Sample(gw, series);
  while (v != want && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // Polling, not ordering.
    v = Sample(gw, series);
  }
  return v;
}


}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_OPS_OPS_TESTING_H_

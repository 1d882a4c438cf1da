// The real binary: SSE flags reach the stream, and SIGTERM ends streams
// cleanly (terminating chunk) and exits 0 within the drain bound.
#include <signal.h>
#include <sys/wait.h>

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "tests/testing/process.h"
#include "tests/testing/sse_client.h"

namespace tailgate::testing {
namespace {

TEST(SseBinaryTest, FlagsApplyAndSigtermDrainsStreamsAndExitsZero) {
  const std::string dir = MakeTempDir("ssebin");
  Process gw({"gateway/tailgate", "--http_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0",
              "--data_dir=" + dir, "--retry_ms=777", "--heartbeat=100ms",
              "--cors_origins=https://a.example, https://b.example", "--drain_timeout=20s"});
  std::optional<std::string> ready = gw.WaitForLine("tailgate ready");
  ASSERT_TRUE(ready.has_value()) << gw.output();
  const std::string http = ValueAfter(*ready, "http=");
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(http.substr(http.rfind(':') + 1), &port)) << http;

  absl::StatusOr<std::unique_ptr<SseClient>> c = SseClient::Connect(
      "127.0.0.1", port, "/v1/events?topic=x", {{"Origin", "https://b.example"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->status(), 200);
  EXPECT_EQ((*c)->header("access-control-allow-origin"), "https://b.example");
  absl::StatusOr<std::string> hb = (*c)->NextComment(absl::Seconds(10));
  ASSERT_TRUE(hb.ok()) << hb.status();
  EXPECT_EQ((*c)->retry_ms().value_or(0), 777);

  const absl::Time start = absl::Now();
  ::kill(gw.pid(), SIGTERM);
  absl::StatusOr<SseEvent> e = (*c)->Next(absl::Seconds(10));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kOutOfRange) << e.status();
  EXPECT_TRUE((*c)->clean_end());
  const int status = gw.Wait(absl::Seconds(20));
  ASSERT_TRUE(WIFEXITED(status)) << status << "\n" << gw.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << gw.output();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace tailgate::testing

// 2,000 SSE connections that never read while 100 MB of events are
// published: the gateway's RSS stays bounded and a normal reader on the side
// gets every event. The gateway runs as a child process so its RSS is its
// own (/proc/PID/status VmRSS).
//
// The bound: a stalled connection pins one in-flight gathered write (at most
// 32 KiB of frames + one event; frames are shared, so this is the worst case
// when every connection stalled on different events) and nothing else; the
// rest that grows with the published volume is the tail cache
// (--tail_cache_bytes, 32 MiB here) and RocksDB's memtables. Worst case here:
// 2,000 x (32 + 8) KiB = 80 MiB + 32 MiB + memtables. So RSS stays under
//   baseline + kRssGrowthBound (320 MiB; measured: ~226 MiB, of which ~145 MiB
//   also appears with no stalled connection at all),
// where baseline is RSS with the 2,000 connections open and nothing published,
// whatever the published volume.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/sse_client.h"

namespace tailgate::testing {
namespace {

constexpr int kStalled = 2000;
constexpr size_t kDataBytes = 8 * 1024;
constexpr size_t kTotalBytes = size_t{100} << 20;
constexpr int kBatch = 64;
constexpr int64_t kRssGrowthBound = int64_t{320} << 20;

// A connection that sends the request and then never reads; its receive
// buffer is small so the stall is reached quickly and kernel memory stays low.
int OpenStalled(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rcvbuf = 8 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  const std::string req =
      "GET /v1/events?topic=mem HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(SseMemoryTest, StalledConnectionsDoNotGrowServerMemory) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 20000);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);  // Inherited by the gateway.
  ASSERT_GE(lim.rlim_cur, static_cast<rlim_t>(kStalled * 2 + 200)) << "RLIMIT_NOFILE too low";

  const std::string dir = MakeTempDir("ssemem");
  Process gw({"gateway/tailgate", "--http_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0",
              "--data_dir=" + dir, "--durability=none", "--write_timeout=10m",
              "--max_connections=5000", "--tail_cache_bytes=33554432", "--http_threads=2"});
  std::optional<std::string> ready = gw.WaitForLine("tailgate ready");
  ASSERT_TRUE(ready.has_value()) << gw.output();
  const std::string http = ValueAfter(*ready, "http=");
  const std::string grpc_addr = ValueAfter(*ready, "grpc=");
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(http.substr(http.rfind(':') + 1), &port)) << http;

  std::vector<int> stalled;
  // SSE_MEM_STALLED overrides the count (to compare against 0 when diagnosing).
  const int n_stalled = std::getenv("SSE_MEM_STALLED") ? std::atoi(std::getenv("SSE_MEM_STALLED")) : kStalled;
  for (int i = 0; i < n_stalled; ++i) {
    int fd = OpenStalled(port);
    ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
    stalled.push_back(fd);
  }
  // The normal reader: every event, in order.
  absl::StatusOr<std::unique_ptr<SseClient>> reader =
      SseClient::Connect("127.0.0.1", port, "/v1/events?topic=mem");
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->status(), 200);

  const int64_t baseline = ProcStatusBytes(gw.pid(), "VmRSS");
  ASSERT_GT(baseline, 0);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> peak{baseline};
  std::thread sampler([&] {
    while (!stop.load()) {
      const int64_t rss = ProcStatusBytes(gw.pid(), "VmRSS");
      if (rss > peak.load()) peak = rss;
      absl::SleepFor(absl::Milliseconds(20));  // Sampling period, not synchronisation.
    }
  });

  const int events = static_cast<int>(kTotalBytes / kDataBytes);
  std::atomic<int> read_count{0};
  std::string reader_error;
  std::thread read_all([&] {
    uint64_t last = 0;
    for (int i = 0; i < events; ++i) {
      absl::StatusOr<SseEvent> e = (*reader)->Next(absl::Seconds(60));
      if (!e.ok()) {
        reader_error = absl::StrCat("after ", i, " events: ", e.status().ToString());
        return;
      }
      uint64_t id = 0;
      if (!absl::SimpleAtoi(e->last_event_id, &id) || id <= last || e->data.size() != kDataBytes) {
        reader_error = absl::StrCat("bad event ", e->last_event_id, " after ", last);
        return;
      }
      last = id;
      read_count.fetch_add(1);
    }
  });

  auto channel = grpc::CreateChannel(grpc_addr, grpc::InsecureChannelCredentials());
  auto stub = v1::Publisher::NewStub(channel);
  const std::string data(kDataBytes, 'm');
  const absl::Time start = absl::Now();
  for (int sent = 0; sent < events; sent += kBatch) {
    v1::PublishBatchRequest req;
    for (int i = 0; i < kBatch && sent + i < events; ++i) {
      v1::PublishRequest* r = req.add_events();
      r->set_topic("mem");
      r->set_data(data);
    }
    v1::PublishBatchResponse res;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = stub->PublishBatch(&ctx, req, &res);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const absl::Duration publish_time = absl::Now() - start;
  read_all.join();
  stop = true;
  sampler.join();
  EXPECT_EQ(reader_error, "");
  EXPECT_EQ(read_count.load(), events);
  const int64_t end_rss = ProcStatusBytes(gw.pid(), "VmRSS");
  std::cerr << "memory: " << kStalled << " stalled connections, " << events << " x " << kDataBytes
            << " B published in " << publish_time << "; RSS baseline " << (baseline >> 20)
            << " MiB, peak " << (peak.load() >> 20) << " MiB, end " << (end_rss >> 20)
            << " MiB (bound: baseline + " << (kRssGrowthBound >> 20) << " MiB)\n";
  EXPECT_LT(peak.load(), baseline + kRssGrowthBound);
  for (int fd : stalled) ::close(fd);
}

}  // namespace
}  // namespace tailgate::testing

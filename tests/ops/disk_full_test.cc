// A full disk, for real: the gateway's data dir is a small tmpfs that the
// test mounts (in a private mount namespace, so nothing outlives the test)
// and fills by publishing. The gateway must stay up, refuse publishes with a
// retryable UNAVAILABLE that says the disk is full, report not ready, keep
// serving what is stored, and resume by itself once the filesystem grows;
// started on a full disk it exits 1 with one clear line (never aborts).
// Every acknowledged event is served afterwards, also after a restart.
//
// Needs root (CI runs as root); skips with a message otherwise.
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/ops/ops_testing.h"
#include "tests/testing/sse_client.h"

namespace tailgate::testing {
namespace {

// Set by main: why the test cannot mount, or empty when it can.
std::string* g_mount_unavailable = nullptr;

absl::Status Mount(const std::string& dir, const std::string& size, bool remount) {
  const std::string opts = "size=" + size;
  if (::mount("tmpfs", dir.c_str(), "tmpfs", remount ? MS_REMOUNT : 0, opts.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("mount tmpfs ", opts, " on ", dir, ": ",
                                            std::strerror(errno)));
  }
  return absl::OkStatus();
}

grpc::Status Publish(v1::Publisher::Stub* stub, const std::string& data, uint64_t* id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::PublishRequest req;
  req.set_topic("disk.events");
  req.set_data(data);
  v1::PublishResponse res;
  grpc::Status s = stub->Publish(&ctx, req, &res);
  *id = res.id();
  return s;
}

// Every event of the topic from the start, as (id -> data); stops after `n`.
std::map<uint64_t, std::string> ReplayAll(int http_port, size_t n) {
  std::map<uint64_t, std::string> out;
  auto sse = SseClient::Connect("127.0.0.1", http_port,
                                "/v1/events?topic=disk.events&since=earliest");
  EXPECT_TRUE(sse.ok()) << sse.status();
  if (!sse.ok()) return out;
  EXPECT_EQ((*sse)->status(), 200) << (*sse)->body();
  while (out.size() < n) {
    absl::StatusOr<SseEvent> e = (*sse)->Next(absl::Seconds(20));
    if (!e.ok()) {
      ADD_FAILURE() << "replay stopped after " << out.size() << " of " << n << ": " << e.status();
      break;
    }
    out[std::stoull(e->last_event_id)] = e->data;
  }
  return out;
}

std::string EventData(int i) {
  // Incompressible enough that RocksDB's WAL grows by about its size.
  std::string data = absl::StrCat("event-", i, "-");
  uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(i + 1);
  while (data.size() < 64 * 1024) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    data.push_back(static_cast<char>('a' + x % 26));
  }
  return data;
}

TEST(DiskFullTest, PublishingSuspendsAndResumesWithoutLosingAnAcknowledgedEvent) {
  if (!g_mount_unavailable->empty()) GTEST_SKIP() << *g_mount_unavailable;
  const std::string mnt = MakeTempDir("disk");
  ASSERT_TRUE(Mount(mnt, "24m", false).ok());
  const std::string data_dir = mnt + "/data";

  RunningGateway gw = StartGateway(data_dir, {"--metrics_interval=100ms"});
  ASSERT_GT(gw.http_port, 0);
  auto stub = v1::Publisher::NewStub(gw.Channel());

  // A live subscriber from the start: it must keep getting what is stored.
  auto live = SseClient::Connect("127.0.0.1", gw.http_port, "/v1/events?topic=disk.events");
  ASSERT_TRUE(live.ok()) << live.status();

  // Publish until the disk is full.
  std::map<uint64_t, std::string> acked;
  grpc::Status refused;
  for (int i = 0; i < 2000; ++i) {
    uint64_t id = 0;
    std::string data = EventData(i);
    grpc::Status s = Publish(stub.get(), data, &id);
    if (!s.ok()) {
      refused = s;
      break;
    }
    acked[id] = std::move(data);
  }
  ASSERT_FALSE(refused.ok()) << "24 MiB never filled up";
  ASSERT_GT(acked.size(), 10u);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_NE(refused.error_message().find("disk is full"), std::string::npos)
      << refused.error_message();
  EXPECT_EQ(refused.error_message().find(mnt), std::string::npos)
      << "a server path reached the client: " << refused.error_message();

  // Still up a few seconds later (RocksDB's background recovery runs then),
  // still refusing, not ready, and saying why.
  std::this_thread::sleep_for(std::chrono::seconds(3));  // Let background recovery attempts run.
  ASSERT_EQ(::kill(gw.process->pid(), 0), 0) << gw.process->output();
  uint64_t ignored = 0;
  grpc::Status again = Publish(stub.get(), "small", &ignored);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::UNAVAILABLE) << again.error_message();
  auto ready = HttpFetch("127.0.0.1", gw.http_port, "GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 503);
  EXPECT_NE(ready->body.find("disk is full"), std::string::npos) << ready->body;
  EXPECT_EQ(WaitForSample(gw, "tailgate_store_available", 0), 0);
  // RocksDB's diagnostics go to the gateway's log, not to a file that a full
  // disk can break.
  EXPECT_FALSE(std::filesystem::exists(data_dir + "/LOG"));

  // Subscribers keep what is stored: the live one got every acked event, and
  // a replay from the start serves them too.
  for (size_t n = 0; n < acked.size(); ++n) {
    absl::StatusOr<SseEvent> e = (*live)->Next(absl::Seconds(20));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(acked.count(std::stoull(e->last_event_id)), 1u) << e->last_event_id;
  }
  EXPECT_EQ(ReplayAll(gw.http_port, acked.size()), acked);

  // Space frees: publishing resumes by itself, without a restart.
  ASSERT_TRUE(Mount(mnt, "256m", true).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  uint64_t id = 0;
  grpc::Status resumed;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // Polling recovery.
    resumed = Publish(stub.get(), "after the disk was full", &id);
  } while (!resumed.ok() && absl::Now() < deadline);
  ASSERT_TRUE(resumed.ok()) << resumed.error_message() << "\n" << gw.process->output();
  acked[id] = "after the disk was full";
  absl::StatusOr<SseEvent> e = (*live)->Next(absl::Seconds(20));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->data, "after the disk was full");
  EXPECT_EQ(WaitForSample(gw, "tailgate_store_available", 1), 1);
  EXPECT_EQ(WaitForSample(gw, "tailgate_ready", 1), 1);
  (*live)->Close();
  EXPECT_EQ(ReplayAll(gw.http_port, acked.size()), acked);
  int status = gw.process->Signal(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status)) << gw.process->output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << gw.process->output();

  // Starting on a full disk: no abort. It either exits 1 with one line
  // naming the cause, or starts (and is not ready to publish).
  {
    std::ofstream filler(mnt + "/filler", std::ios::binary);
    std::string block(1 << 20, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
  }
  Process full({kGatewayBinary, "--http_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0",
                "--data_dir=" + data_dir});
  status = full.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal:\n" << full.output();
  EXPECT_EQ(WEXITSTATUS(status), 1) << full.output();
  EXPECT_NE(full.output().find("disk is full"), std::string::npos) << full.output();
  ASSERT_EQ(::unlink((mnt + "/filler").c_str()), 0);

  // After the restart every acknowledged event is intact.
  RunningGateway after = StartGateway(data_dir);
  ASSERT_GT(after.http_port, 0);
  const std::map<uint64_t, std::string> kept = ReplayAll(after.http_port, acked.size());
  EXPECT_EQ(kept, acked);
  size_t lost = 0;
  for (const auto& [id, data] : acked) lost += kept.count(id) == 0 || kept.at(id) != data;
  std::printf("disk full: %zu events acknowledged (64 KiB each), %zu lost\n", acked.size(), lost);
}

}  // namespace
}  // namespace tailgate::testing

int main(int argc, char** argv) {
  // A private mount namespace (before any thread starts: unshare needs a
  // single-threaded process) so the tmpfs vanishes with the test process.
  static std::string why;
  if (::geteuid() != 0) {
    why = "needs root to mount a small tmpfs (CI runs as root)";
  } else if (::unshare(CLONE_NEWNS) != 0) {
    why = std::string("cannot create a mount namespace: ") + std::strerror(errno);
  } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    why = std::string("cannot make mounts private: ") + std::strerror(errno);
  }
  tailgate::testing::g_mount_unavailable = &why;
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

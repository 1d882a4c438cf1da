// The real //gateway:tailgate binary: SIGTERM while publishers are busy loses
// no acknowledged event; and the //gateway:tailgate_publish CLI against it.
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "store/log.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/publish/publish_testing.h"
#include "tests/testing/process.h"

namespace tailgate {
namespace {

using ::tailgate::testing::In;
using ::tailgate::testing::MakeTempDir;
using ::tailgate::testing::Process;
using ::tailgate::testing::ReadAllEvents;
using ::tailgate::testing::Req;
using ::tailgate::testing::Shell;
using ::tailgate::testing::ValueAfter;
using std::chrono::milliseconds;

constexpr char kGateway[] = "gateway/tailgate";
constexpr char kCli[] = "gateway/tailgate_publish";

std::unique_ptr<Process> StartGateway(const std::string& data_dir, std::string* grpc_address,
                                      const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {kGateway, "--http_listen=127.0.0.1:0",
                                   "--grpc_listen=127.0.0.1:0", "--data_dir=" + data_dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto proc = std::make_unique<Process>(argv);
  std::optional<std::string> ready = proc->WaitForLine("tailgate ready");
  EXPECT_TRUE(ready.has_value()) << proc->output();
  if (ready) *grpc_address = ValueAfter(*ready, "grpc=");
  return proc;
}

// Everything acknowledged so far, by id.
class Acks {
 public:
  void Add(uint64_t id, const std::string& data) {
    std::lock_guard<std::mutex> l(mu_);
    EXPECT_TRUE(by_id_.emplace(id, data).second) << "id acked twice: " << id;
    cv_.notify_all();
  }
  void WaitFor(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return by_id_.size() >= n; });
  }
  std::map<uint64_t, std::string> Get() {
    std::lock_guard<std::mutex> l(mu_);
    return by_id_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::string> by_id_;
};

TEST(PublishBinaryTest, SigtermDrainLosesNoAcknowledgedEvent) {
  const std::string dir = MakeTempDir("drain");
  std::string address;
  std::unique_ptr<Process> gateway = StartGateway(dir, &address);
  ASSERT_FALSE(address.empty());
  auto stub = v1::Publisher::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));

  Acks acks;
  std::vector<std::thread> publishers;
  std::vector<grpc::Status> stream_status(2);
  // Streams with many acks in flight.
  for (int s = 0; s < 2; ++s) {
    publishers.emplace_back([&, s] {
      grpc::ClientContext ctx;
      ctx.set_deadline(In(milliseconds(60000)));
      auto stream = stub->PublishStream(&ctx);
      std::atomic<bool> stop{false};
      std::thread writer([&] {
        for (int i = 0; !stop.load(); ++i) {
          if (!stream->Write(Req("drain.s" + std::to_string(s), std::to_string(i)))) break;
        }
      });
      v1::PublishResponse res;
      for (int i = 0; stream->Read(&res); ++i) acks.Add(res.id(), std::to_string(i));
      stop = true;
      writer.join();
      stream_status[s] = stream->Finish();
    });
  }
  // Unary callers until the server refuses.
  for (int u = 0; u < 2; ++u) {
    publishers.emplace_back([&, u] {
      for (int i = 0;; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(In(milliseconds(10000)));
        v1::PublishResponse res;
        const std::string data = "u" + std::to_string(u) + ":" + std::to_string(i);
        if (!stub->Publish(&ctx, Req("drain.u", data), &res).ok()) break;
        acks.Add(res.id(), data);
      }
    });
  }
  acks.WaitFor(3000);
  const int status = gateway->Signal(SIGTERM);
  for (std::thread& t : publishers) t.join();
  ASSERT_TRUE(WIFEXITED(status)) << gateway->output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << gateway->output();
  for (const grpc::Status& s : stream_status) {
    // Drained by the server (or, if the drain won the race with the stream's
    // last read, cut by the closing connection): never OK, never a lost ack.
    EXPECT_NE(s.error_code(), grpc::StatusCode::OK);
  }

  store::Options options;
  options.data_dir = dir;
  absl::StatusOr<std::unique_ptr<store::Log>> log = store::OpenRocksDbLog(options);
  ASSERT_TRUE(log.ok()) << log.status();
  std::vector<store::Event> events = ReadAllEvents(**log);
  EXPECT_EQ((*log)->Watermark(), (*log)->LastAssignedId());
  // Gap-free from the new log's first id.
  const uint64_t floor = (*log)->IdsStartAfter();
  ASSERT_EQ(events.size(), (*log)->Watermark() - floor);
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].id, floor + i + 1);
  std::map<uint64_t, std::string> acked = acks.Get();
  ASSERT_GE(acked.size(), 3000u);
  for (const auto& [id, data] : acked) {
    ASSERT_GT(id, floor);
    ASSERT_LE(id - floor, events.size()) << "acked id " << id << " is not in the log";
    EXPECT_EQ(events[id - floor - 1].data, data) << id;
  }
}


TEST(PublishBinaryTest, StartsOnTheSameDataDirAfterADrainAndContinuesTheIds) {
  const std::string dir = MakeTempDir("restart");
  uint64_t first = 0;
  for (int run = 0; run < 2; ++run) {
    std::string address;
    std::unique_ptr<Process> gateway = StartGateway(dir, &address, {"--durability=wal"});
    // Published from a process that exits: an idle C++ client in this process
    // would not answer the server's GOAWAY ping (nothing polls its socket),
    // which holds a drain up for gRPC's ~5 s grace.
    auto [code, out] = Shell(std::string(kCli) + " --server=" + address + " --topic=r x");
    EXPECT_EQ(code, 0) << out;
    uint64_t id = 0;
    ASSERT_TRUE(absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(out), &id)) << out;
    if (run == 0) first = id;
    EXPECT_EQ(id, first + run) << "the restarted gateway continues the ids";
    const int status = gateway->Signal(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
}

TEST(PublishBinaryTest, RejectsABadDurabilityFlag) {
  Process gateway({kGateway, "--durability=sometimes", "--data_dir=" + MakeTempDir("flag")});
  std::optional<std::string> line = gateway.WaitForLine("durability");
  ASSERT_TRUE(line.has_value()) << gateway.output();
  EXPECT_NE(line->find("--durability: want fsync, wal or none, got \"sometimes\""),
            std::string::npos)
      << *line;
  const int status = gateway.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

TEST(PublishBinaryTest, Cli) {
  std::string address;
  std::unique_ptr<Process> gateway = StartGateway(MakeTempDir("cli"), &address);
  const std::string cli = std::string(kCli) + " --server=" + address;

  auto [first_code, first_out] = Shell(cli + " --topic=orders.42 --type=created '{\"id\":42}'");
  ASSERT_EQ(first_code, 0) << first_out;
  uint64_t base = 0;  // The first id is base + 1.
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(first_out), &base)) << first_out;
  --base;
  auto id = [base](int n) { return std::to_string(base + static_cast<uint64_t>(n)); };
  EXPECT_EQ(Shell(cli + " --topic orders.42 --idempotency_key=k1 second"),
            std::make_pair(0, id(2) + "\n"));
  EXPECT_EQ(Shell(cli + " --topic orders.42 --idempotency_key=k1 second"),
            std::make_pair(0, id(2) + " duplicate\n"));
  EXPECT_EQ(Shell("printf 'a\\nb b\\n\\nlast' | " + cli + " --topic=logs.app --stdin"),
            std::make_pair(0, id(3) + "\n" + id(4) + "\n" + id(5) + "\n" + id(6) + "\n"));

  auto [code, out] = Shell(cli + " --topic='bad topic' x");
  EXPECT_EQ(code, 1);
  EXPECT_EQ(out,
            "tailgate_publish: INVALID_ARGUMENT: topic: topic has invalid byte 0x20 at byte 3 (allowed: A-Z "
            "a-z 0-9 _ : - and '.' between tokens)\n");
  auto [scode, sout] =
      Shell("printf 'ok\\nok\\n' | " + cli + " --topic=logs.app --type='a b' --stdin");
  EXPECT_EQ(scode, 1);
  EXPECT_EQ(sout,
            "tailgate_publish: INVALID_ARGUMENT: request[0].type: type has invalid byte 0x20 at byte 1 "
            "(allowed: A-Z a-z 0-9 _ . : -)\n");
  EXPECT_EQ(Shell(cli + " x").first, 2);  // No --topic.
  EXPECT_EQ(Shell(cli + " --topic=t").first, 2);  // No data.
}

}  // namespace
}  // namespace tailgate

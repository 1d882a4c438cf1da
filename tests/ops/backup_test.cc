// An online backup taken under load: publishers keep publishing while
// tailgatectl / the Admin API checkpoints the log; a second gateway started on
// the checkpoint directory serves every event acknowledged before the
// checkpoint started (replayed over SSE with since=earliest), and takes new
// publishes.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tailgate/v1/admin.grpc.pb.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/ops/ops_testing.h"
#include "tests/testing/sse_client.h"

namespace tailgate::testing {
namespace {

class Acks {
 public:
  void Add(uint64_t id, std::string data) {
    std::lock_guard<std::mutex> lock(mu_);
    by_id_.emplace(id, std::move(data));
    cv_.notify_all();
  }
  void WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return by_id_.size() >= n; });
  }
  std::map<uint64_t, std::string> Snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return by_id_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::string> by_id_;
};

TEST(BackupTest, CheckpointUnderLoadRestoresEveryAcknowledgedEvent) {
  RunningGateway primary = StartGateway(MakeTempDir("primary"));
  ASSERT_GT(primary.http_port, 0);

  // Four publishers, each on its own topic, until told to stop.
  Acks acks;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> publishers;
  for (int p = 0; p < 4; ++p) {
    publishers.emplace_back([&, p] {
      auto stub = v1::Publisher::NewStub(primary.Channel());
      for (int i = 0; !stop.load(); ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        v1::PublishRequest req;
        req.set_topic(absl::StrCat("load.p", p));
        req.set_data(absl::StrCat("p", p, "-", i));
        v1::PublishResponse res;
        grpc::Status s = stub->Publish(&ctx, req, &res);
        if (!s.ok()) {
          failures.fetch_add(1);
          return;
        }
        acks.Add(res.id(), req.data());
      }
    });
  }
  acks.WaitFor(200);  // Load is running.

  // Everything acknowledged before the checkpoint starts must be in it.
  const std::map<uint64_t, std::string> before = acks.Snapshot();
  const std::string dir = MakeTempDir("backup") + "/cp";
  auto admin = v1::Admin::NewStub(primary.Channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::CheckpointRequest req;
  req.set_dir(dir);
  v1::CheckpointResponse res;
  grpc::Status cs = admin->Checkpoint(&ctx, req, &res);
  // Publishing went on during the checkpoint: let it run a little past it.
  const size_t at_checkpoint_end = acks.Snapshot().size();
  acks.WaitFor(at_checkpoint_end + 100);
  stop.store(true);
  for (std::thread& t : publishers) t.join();
  ASSERT_TRUE(cs.ok()) << cs.error_message();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_FALSE(before.empty());
  EXPECT_GE(res.watermark(), before.rbegin()->first);

  // The restore: a second gateway process on the checkpoint directory.
  RunningGateway restored = StartGateway(dir);
  ASSERT_GT(restored.http_port, 0);
  absl::StatusOr<std::unique_ptr<SseClient>> sse = SseClient::Connect(
      "127.0.0.1", restored.http_port, "/v1/events?topic=load.>&since=earliest");
  ASSERT_TRUE(sse.ok()) << sse.status();
  ASSERT_EQ((*sse)->status(), 200) << (*sse)->body();
  std::map<uint64_t, std::string> replayed;
  uint64_t last = 0;
  while (last < res.watermark()) {
    absl::StatusOr<SseEvent> e = (*sse)->Next(absl::Seconds(20));
    ASSERT_TRUE(e.ok()) << e.status() << " after id " << last;
    ASSERT_EQ(e->type, "message") << e->data;
    ASSERT_TRUE(absl::SimpleAtoi(e->last_event_id, &last)) << e->last_event_id;
    replayed[last] = e->data;
  }
  size_t missing = 0;
  for (const auto& [id, data] : before) {
    auto it = replayed.find(id);
    if (it == replayed.end() || it->second != data) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << before.size() << " events acknowledged before the checkpoint";
  // Ids are gap-free up to the checkpoint's watermark: nothing else is there.
  ASSERT_FALSE(replayed.empty());
  EXPECT_EQ(replayed.size(), static_cast<size_t>(last - replayed.begin()->first + 1));

  // A client that saw the last event the primary acknowledged (lost with the
  // primary: it came after the checkpoint) resumes with what comes next.
  const uint64_t primary_last = acks.Snapshot().rbegin()->first;
  ASSERT_GT(primary_last, res.watermark());
  absl::StatusOr<std::unique_ptr<SseClient>> lost = SseClient::Connect(
      "127.0.0.1", restored.http_port,
      absl::StrCat("/v1/events?topic=load.>&lastEventId=", primary_last));
  ASSERT_TRUE(lost.ok()) << lost.status();
  ASSERT_EQ((*lost)->status(), 200) << (*lost)->body();

  // The restored gateway works: a new publish gets an id above every id the
  // primary handed out (never one a client may hold already) and is streamed.
  auto stub = v1::Publisher::NewStub(restored.Channel());
  grpc::ClientContext pctx;
  v1::PublishRequest preq;
  preq.set_topic("load.after");
  preq.set_data("after restore");
  v1::PublishResponse pres;
  ASSERT_TRUE(stub->Publish(&pctx, preq, &pres).ok());
  EXPECT_GT(pres.id(), primary_last);
  for (;;) {
    absl::StatusOr<SseEvent> e = (*sse)->Next(absl::Seconds(20));
    ASSERT_TRUE(e.ok()) << e.status();
    if (e->data == "after restore") {
      EXPECT_EQ(e->last_event_id, absl::StrCat(pres.id()));
      break;
    }
  }
  absl::StatusOr<SseEvent> next = (*lost)->Next(absl::Seconds(20));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->type, "message");
  EXPECT_EQ(next->data, "after restore");
  EXPECT_EQ(next->last_event_id, absl::StrCat(pres.id()));

  for (RunningGateway* gw : {&restored, &primary}) {
    const int status = gw->process->Signal(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status)) << gw->process->output();
    EXPECT_EQ(WEXITSTATUS(status), 0) << gw->process->output();
  }
}

// The data dir is lost (no backup): the gateway starts a new log there. Its
// ids start above every id the old one issued, so a browser holding an old id
// is told (tailgate.reset, unknown_id) and gets every event of the new log,
// instead of resuming after a reused id and silently skipping events.
// Publishes one event; its id, or 0 after a failed expectation.
uint64_t PublishOne(v1::Publisher::Stub* stub, const std::string& topic, const std::string& data) {
  grpc::ClientContext ctx;
  v1::PublishRequest req;
  req.set_topic(topic);
  req.set_data(data);
  v1::PublishResponse res;
  grpc::Status s = stub->Publish(&ctx, req, &res);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return s.ok() ? res.id() : 0;
}

TEST(BackupTest, WipedDataDirNeverReusesAnId) {
  const std::string dir = MakeTempDir("wiped");
  uint64_t old_last = 0;
  {
    RunningGateway gw = StartGateway(dir);
    ASSERT_GT(gw.http_port, 0);
    auto stub = v1::Publisher::NewStub(gw.Channel());
    for (int i = 0; i < 3; ++i) old_last = PublishOne(stub.get(), "wiped.t", absl::StrCat("old-", i));
    ASSERT_EQ(WEXITSTATUS(gw.process->Signal(SIGTERM)), 0) << gw.process->output();
  }
  std::filesystem::remove_all(dir);

  RunningGateway gw = StartGateway(dir);
  ASSERT_GT(gw.http_port, 0);
  auto stub = v1::Publisher::NewStub(gw.Channel());
  std::vector<uint64_t> ids;
  for (int i = 0; i < 2; ++i) {
    ids.push_back(PublishOne(stub.get(), "wiped.t", absl::StrCat("new-", i)));
    EXPECT_GT(ids.back(), old_last) << "an id of the lost log was handed out again";
  }
  absl::StatusOr<std::unique_ptr<SseClient>> sse = SseClient::Connect(
      "127.0.0.1", gw.http_port, "/v1/events?topic=wiped.t",
      {{"Last-Event-ID", std::to_string(old_last)}});
  ASSERT_TRUE(sse.ok()) << sse.status();
  absl::StatusOr<SseEvent> reset = (*sse)->Next(absl::Seconds(20));
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ(reset->type, "tailgate.reset");
  EXPECT_NE(reset->data.find(absl::StrCat("\"reason\":\"unknown_id\",\"requested\":", old_last)),
            std::string::npos)
      << reset->data;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<SseEvent> e = (*sse)->Next(absl::Seconds(20));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->data, absl::StrCat("new-", i));
    EXPECT_EQ(e->last_event_id, std::to_string(ids[static_cast<size_t>(i)]));
  }
}

}  // namespace
}  // namespace tailgate::testing

// tailgate.v1.Admin on the real binary (each RPC, errors included), each
// tailgatectl subcommand against it, --admin=false, and --retention rules.
#include <signal.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tailgate/v1/admin.grpc.pb.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/ops/ops_testing.h"

namespace tailgate::testing {
namespace {

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

void PublishN(const RunningGateway& gw, const std::string& topic, int n,
              const std::string& data = "abcd") {
  auto stub = v1::Publisher::NewStub(gw.Channel());
  for (int i = 0; i < n; ++i) {
    v1::PublishRequest req;
    req.set_topic(topic);
    req.set_data(data);
    v1::PublishResponse res;
    ASSERT_TRUE(stub->Publish(Ctx().get(), req, &res).ok());
  }
}

std::vector<v1::TopicInfo> ListTopics(v1::Admin::Stub* admin, const std::string& pattern) {
  v1::ListTopicsRequest req;
  req.set_pattern(pattern);
  v1::ListTopicsResponse res;
  grpc::Status s = admin->ListTopics(Ctx().get(), req, &res);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {res.topics().begin(), res.topics().end()};
}

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gw_ = StartGateway(MakeTempDir("admin"));
    ASSERT_GT(gw_.http_port, 0);
    admin_ = v1::Admin::NewStub(gw_.Channel());
    // A new log's ids start above its creation time: Id(n) is its n-th.
    v1::GetStatsResponse stats;
    ASSERT_TRUE(admin_->GetStats(Ctx().get(), v1::GetStatsRequest(), &stats).ok());
    base_ = stats.watermark();
    // Id(1-3): orders.eu, Id(4-5): orders.us, Id(6): users.1
    PublishN(gw_, "orders.eu", 3);
    PublishN(gw_, "orders.us", 2, "xy");
    PublishN(gw_, "users.1", 1);
  }

  uint64_t Id(uint64_t n) const { return base_ + n; }

  RunningGateway gw_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  uint64_t base_ = 0;
};

TEST_F(AdminTest, ListTopicsByPattern) {
  std::vector<v1::TopicInfo> all = ListTopics(admin_.get(), "");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].topic(), "orders.eu");
  EXPECT_EQ(all[0].first_id(), Id(1));
  EXPECT_EQ(all[0].last_id(), Id(3));
  EXPECT_EQ(all[0].count(), 3u);
  EXPECT_EQ(all[0].bytes(), 12u);
  std::vector<v1::TopicInfo> orders = ListTopics(admin_.get(), "orders.*");
  ASSERT_EQ(orders.size(), 2u);
  EXPECT_EQ(orders[1].topic(), "orders.us");
  EXPECT_EQ(orders[1].first_id(), Id(4));
  EXPECT_EQ(orders[1].bytes(), 4u);
  v1::ListTopicsRequest bad;
  bad.set_pattern("orders..x");
  v1::ListTopicsResponse res;
  EXPECT_EQ(admin_->ListTopics(Ctx().get(), bad, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AdminTest, TrimTopicRemovesEventsUpToTheId) {
  v1::TrimTopicRequest req;
  req.set_topic("orders.eu");
  req.set_up_to_id(Id(2));
  v1::TrimTopicResponse res;
  grpc::Status s = admin_->TrimTopic(Ctx().get(), req, &res);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(res.topic().first_id(), Id(3));
  EXPECT_EQ(res.topic().count(), 1u);
  EXPECT_EQ(ListTopics(admin_.get(), "orders.eu")[0].count(), 1u);
  req.set_topic("not a topic");
  EXPECT_EQ(admin_->TrimTopic(Ctx().get(), req, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AdminTest, DeleteTopicRemovesItAndIdsStayUnused) {
  v1::DeleteTopicRequest req;
  req.set_topic("users.1");
  v1::DeleteTopicResponse res;
  grpc::Status s = admin_->DeleteTopic(Ctx().get(), req, &res);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(ListTopics(admin_.get(), "users.>").empty());
  PublishN(gw_, "users.1", 1);
  std::vector<v1::TopicInfo> users = ListTopics(admin_.get(), "users.>");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0].first_id(), Id(7)) << "ids are never reused";
  req.set_topic("");
  EXPECT_EQ(admin_->DeleteTopic(Ctx().get(), req, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AdminTest, GetStatsReportsTheLog) {
  v1::GetStatsRequest req;
  v1::GetStatsResponse res;
  grpc::Status s = admin_->GetStats(Ctx().get(), req, &res);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(res.watermark(), Id(6));
  EXPECT_EQ(res.events(), 6u);
  EXPECT_EQ(res.bytes(), 3u * 4 + 2u * 2 + 4);
  EXPECT_EQ(res.topics(), 3u);
  EXPECT_GT(res.disk_bytes(), 0u);
  EXPECT_EQ(res.durability(), "fsync");
}

TEST_F(AdminTest, CheckpointWritesARestorableCopy) {
  const std::string dir = MakeTempDir("admin_cp") + "/cp";
  v1::CheckpointRequest req;
  req.set_dir(dir);
  v1::CheckpointResponse res;
  grpc::Status s = admin_->Checkpoint(Ctx().get(), req, &res);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(res.dir(), dir);
  EXPECT_EQ(res.watermark(), Id(6));
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  // The directory exists now: a second checkpoint there is refused.
  EXPECT_FALSE(admin_->Checkpoint(Ctx().get(), req, &res).ok());
  req.set_dir("");
  EXPECT_EQ(admin_->Checkpoint(Ctx().get(), req, &res).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  const int64_t restore_micros = absl::ToUnixMicros(absl::Now());
  RunningGateway restored = StartGateway(dir);
  ASSERT_GT(restored.http_port, 0);
  auto admin2 = v1::Admin::NewStub(restored.Channel());
  v1::GetStatsResponse stats;
  ASSERT_TRUE(admin2->GetStats(Ctx().get(), v1::GetStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.events(), 6u);
  // Its ids continue from the time of the restore (never reusing one the
  // original handed out after the checkpoint).
  EXPECT_GE(stats.watermark(), static_cast<uint64_t>(restore_micros));
}

TEST_F(AdminTest, TailgatectlRunsEachSubcommand) {
  const std::string ctl = std::string(kCtlBinary) + " --server=" + gw_.grpc + " ";
  auto [topics_status, topics] = Shell(ctl + "topics 'orders.>'");
  EXPECT_EQ(topics_status, 0) << topics;
  EXPECT_NE(topics.find("TOPIC"), std::string::npos) << topics;
  EXPECT_NE(topics.find("orders.eu"), std::string::npos) << topics;
  EXPECT_NE(topics.find("orders.us"), std::string::npos) << topics;
  EXPECT_EQ(topics.find("users.1"), std::string::npos) << topics;

  auto [stats_status, stats] = Shell(ctl + "stats");
  EXPECT_EQ(stats_status, 0) << stats;
  EXPECT_NE(stats.find(absl::StrCat("watermark   ", Id(6), "\n")), std::string::npos) << stats;
  EXPECT_NE(stats.find("durability  fsync"), std::string::npos) << stats;

  EXPECT_EQ(Shell(absl::StrCat(ctl, "trim orders.eu ", Id(2))),
            std::make_pair(0, absl::StrCat("trimmed orders.eu: 1 events remain, first id ", Id(3),
                                           "\n")));
  EXPECT_EQ(Shell(ctl + "delete users.1"), std::make_pair(0, std::string("deleted users.1\n")));
  EXPECT_TRUE(ListTopics(admin_.get(), "users.>").empty());

  const std::string dir = MakeTempDir("ctl_cp") + "/backup";
  EXPECT_EQ(Shell(ctl + "checkpoint " + dir),
            std::make_pair(0, absl::StrCat("checkpoint ", dir, " holds every event up to id ", Id(6),
                                           "\n")));
  EXPECT_TRUE(std::filesystem::is_directory(dir));

  // Usage errors exit 2, server errors 1 with the status message.
  EXPECT_EQ(Shell(ctl + "trim orders.eu").first, 2);
  EXPECT_EQ(Shell(ctl + "trim orders.eu many").first, 2);
  EXPECT_EQ(Shell(ctl + "frobnicate").first, 2);
  auto [bad_status, bad] = Shell(ctl + "delete 'bad topic'");
  EXPECT_EQ(bad_status, 1) << bad;
  EXPECT_NE(bad.find("topic"), std::string::npos) << bad;
  auto [down_status, down] =
      Shell(std::string(kCtlBinary) + " --server=127.0.0.1:1 --timeout=2s stats");
  EXPECT_EQ(down_status, 1) << down;
}

// The server writes checkpoints on its own disk: tailgatectl says when DIR is
// relative (the server resolves it, and the answer names the absolute path),
// and the server names a missing parent instead of a deep I/O error.
TEST_F(AdminTest, CheckpointExplainsRelativeDirsAndMissingParents) {
  const std::string ctl = std::string(kCtlBinary) + " --server=" + gw_.grpc + " ";
  auto [missing_status, missing] =
      Shell(ctl + "checkpoint " + MakeTempDir("ctl_missing") + "/no/such/backup");
  EXPECT_EQ(missing_status, 1) << missing;
  EXPECT_NE(missing.find("tailgatectl: FAILED_PRECONDITION: dir: the parent directory /"),
            std::string::npos)
      << missing;
  EXPECT_NE(missing.find("/no/such does not exist on the server"), std::string::npos) << missing;

  auto [rel_status, rel] = Shell(ctl + "checkpoint relative-backup");
  EXPECT_EQ(rel_status, 0) << rel;
  EXPECT_NE(rel.find("note: 'relative-backup' is relative: the server resolves it"),
            std::string::npos)
      << rel;
  const size_t at = rel.find("checkpoint /");
  ASSERT_NE(at, std::string::npos) << rel;
  const std::string dir = rel.substr(at + 11, rel.find(' ', at + 11) - (at + 11));
  EXPECT_EQ(dir.substr(dir.rfind('/')), "/relative-backup") << rel;
  EXPECT_TRUE(std::filesystem::is_directory(dir)) << dir;
  std::filesystem::remove_all(dir);
}

TEST(AdminDisabledTest, AdminFalseLeavesTheServiceOut) {
  RunningGateway gw = StartGateway(MakeTempDir("noadmin"), {"--admin=false"});
  ASSERT_GT(gw.http_port, 0);
  auto admin = v1::Admin::NewStub(gw.Channel());
  v1::GetStatsResponse res;
  EXPECT_EQ(admin->GetStats(Ctx().get(), v1::GetStatsRequest(), &res).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

// --retention maps onto the store: a count rule for metrics.*, the default
// for everything else.
TEST(RetentionFlagTest, PerPatternRulesApply) {
  RunningGateway gw = StartGateway(
      MakeTempDir("retention"),
      {"--retention=metrics.*=3,orders.>=7d", "--retention_default_events=5",
       "--retention_interval=50ms"});
  ASSERT_GT(gw.http_port, 0);
  PublishN(gw, "metrics.cpu", 10);
  PublishN(gw, "orders.eu.1", 10);
  PublishN(gw, "other", 10);
  auto admin = v1::Admin::NewStub(gw.Channel());
  auto counts = [&] {
    std::map<std::string, uint64_t> out;
    for (const v1::TopicInfo& t : ListTopics(admin.get(), "")) out[t.topic()] = t.count();
    return out;
  };
  const std::map<std::string, uint64_t> want = {
      {"metrics.cpu", 3}, {"orders.eu.1", 10}, {"other", 5}};
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::map<std::string, uint64_t> got = counts();
  while (got != want && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // Polling retention's effect.
    got = counts();
  }
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace tailgate::testing

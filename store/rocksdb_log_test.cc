// RocksDB-only behaviour of the log: the on-disk format, the fake clock
// (age limits, dedup windows), checkpoints, durability modes, diagnostics.
// The Log contract both backends share is in log_test.cc.
#include "store/rocksdb_log.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "store/rocksdb_log.h"
#include "store/log_test_base.h"
#include "store/test_util.h"
#include "tests/testing/nats_server.h"

namespace tailgate::store {
namespace {

using testing::Backend;
using testing::Ev;
using testing::Filter;
using testing::FreshDir;
using testing::Ids;
using testing::LogTest;
using testing::LogTestBase;
using testing::ReadAll;

// RocksDB only: on-disk format, the fake clock, checkpoints.
class RocksDbLogTest : public LogTestBase {
 protected:
  Backend backend() const override { return Backend::kRocksDb; }
};

TEST_F(RocksDbLogTest, RetentionByMaxAgeRemovesOldEventsByPublishTime) {
  options_.default_retention = {">", 0, absl::Hours(1)};
  auto log = Open();
  for (int i = 0; i < 5; ++i) {
    EventInput e = Ev("a", "old");
    e.publish_time = clock_.Now() - absl::Hours(2);
    AppendOne(*log, e);
  }
  for (int i = 0; i < 5; ++i) AppendOne(*log, Ev("a", "new"));
  ASSERT_TRUE(log->EnforceRetention().ok());
  bool trimmed = false;
  std::vector<Event> events = ReadAll(*log, {"a"}, 0, 1024, &trimmed);
  EXPECT_TRUE(trimmed);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].id, 6u);

  clock_.Advance(absl::Minutes(61));
  ASSERT_TRUE(log->EnforceRetention().ok());
  EXPECT_TRUE(ReadAll(*log, {"a"}).empty());
  EXPECT_EQ((*log->ListTopics(Filter({"a"})))[0].first_id, 0u);
  EXPECT_EQ((*log->ListTopics(Filter({"a"})))[0].last_id, 10u);
}

// A key names one event: reusing it for other content is an error that names
// the key, in a later append, in the same commit, and within one append. On
// JetStream the server's duplicate detection does not compare content (see
// docs): RocksDB only.
TEST_F(RocksDbLogTest, ReusedIdempotencyKeyWithOtherContentIsAlreadyExists) {
  auto log = Open();
  uint64_t id = AppendOne(*log, Ev("a", "1", "k1"));
  auto other_data = log->Append({Ev("a", "2", "k1")});
  ASSERT_EQ(other_data.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(other_data.status().message(),
            absl::StrCat("idempotency_key \"k1\" was already used on topic \"a\" (event id ", id,
                         ") for an event with a different data: a retry must send the same "
                         "event; a new event needs a new key"));
  EventInput typed = Ev("a", "1", "k1");
  typed.type = "other";
  auto other_type = log->Append({typed});
  ASSERT_EQ(other_type.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(other_type.status().message().find("different type"), absl::string_view::npos);
  // A batch with a conflict stores nothing (atomic), and says which event.
  auto batch = log->Append({Ev("a", "3"), Ev("b", "x", "k9"), Ev("b", "y", "k9")});
  ASSERT_EQ(batch.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(absl::StartsWith(batch.status().message(), "events[2]: idempotency_key \"k9\""))
      << batch.status();
  // The same event again is still a plain duplicate, and nothing else was stored.
  auto retry = log->Append({Ev("a", "1", "k1")});
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE((*retry)[0].duplicate);
  EXPECT_EQ((*retry)[0].id, id);
  EXPECT_EQ(ReadAll(*log, {"a", "b"}).size(), 1u);
  // Two appends in one commit: the second conflicts with the first.
  absl::Notification both;
  std::atomic<int> done{0};
  absl::Status second;
  log->AppendAsync({Ev("c", "first", "kc")}, [&](auto r) {
    EXPECT_TRUE(r.ok());
    if (++done == 2) both.Notify();
  });
  log->AppendAsync({Ev("c", "second", "kc")}, [&](auto r) {
    second = r.status();
    if (++done == 2) both.Notify();
  });
  both.WaitForNotification();
  EXPECT_EQ(second.code(), absl::StatusCode::kAlreadyExists) << second;
}

// JetStream's duplicate window runs on the server's clock; only RocksDB's can
// be moved by hand.
TEST_F(RocksDbLogTest, DedupExpiresAfterWindowAndRetention) {
  options_.dedup_window = absl::Minutes(10);
  auto log = Open();
  uint64_t id = AppendOne(*log, Ev("a", "1", "k"));
  log.reset();
  log = Open();
  auto r = log->Append({Ev("a", "1", "k")});
  EXPECT_TRUE((*r)[0].duplicate);
  EXPECT_EQ((*r)[0].id, id);

  clock_.Advance(absl::Minutes(9));
  EXPECT_TRUE((*log->Append({Ev("a", "1", "k")}))[0].duplicate);
  clock_.Advance(absl::Minutes(2));
  // Past the window the key is new again, even before retention expires it.
  r = log->Append({Ev("a", "1", "k")});
  EXPECT_FALSE((*r)[0].duplicate);
  const uint64_t second = (*r)[0].id;
  EXPECT_GT(second, id);
  // Retention expires only the old record, not the fresh one.
  ASSERT_TRUE(log->EnforceRetention().ok());
  r = log->Append({Ev("a", "1", "k")});
  EXPECT_TRUE((*r)[0].duplicate);
  EXPECT_EQ((*r)[0].id, second);
  clock_.Advance(absl::Minutes(11));
  ASSERT_TRUE(log->EnforceRetention().ok());
  log.reset();
  log = Open();
  EXPECT_FALSE((*log->Append({Ev("a", "1", "k")}))[0].duplicate);
}

TEST_F(RocksDbLogTest, DurabilityModesAllSurviveCleanClose) {
  for (Durability d : {Durability::kFsync, Durability::kWal, Durability::kNone}) {
    options_.data_dir = FreshDir(std::string(DurabilityName(d)));
    options_.durability = d;
    auto log = Open();
    for (int i = 0; i < 50; ++i) AppendOne(*log, Ev("a", "x"));
    log.reset();
    log = Open();
    EXPECT_EQ(ReadAll(*log, {"a"}).size(), 50u) << DurabilityName(d);
  }
  EXPECT_EQ(*ParseDurability("wal"), Durability::kWal);
  EXPECT_EQ(ParseDurability("sometimes").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RocksDbLogTest, CheckpointOpensAsACopyThatNeverReusesAnId) {
  auto log = Open();
  for (int i = 0; i < 20; ++i) AppendOne(*log, Ev("a", absl::StrCat(i)));
  const std::string copy = FreshDir("copy");
  ASSERT_TRUE(log->Checkpoint(copy).ok());
  EXPECT_EQ(AppendOne(*log, Ev("a", "later")), 21u);  // Not in the checkpoint.
  log.reset();
  options_.data_dir = copy;
  auto restored = Open();
  std::vector<Event> kept = ReadAll(*restored, {"a"});
  ASSERT_EQ(kept.size(), 20u);
  EXPECT_EQ(kept.back().id, 20u);
  // Ids continue from the clock's microseconds, above the original's 21.
  const uint64_t jump = static_cast<uint64_t>(absl::ToUnixMicros(clock_.Now()));
  EXPECT_EQ(restored->Watermark(), jump);
  EXPECT_EQ(AppendOne(*restored, Ev("a", "new")), jump + 1);
  // A reader holding the lost id 21 resumes with the new event.
  std::vector<Event> after_lost = ReadAll(*restored, {"a"}, 21);
  ASSERT_EQ(after_lost.size(), 1u);
  EXPECT_EQ(after_lost[0].data, "new");
  // Only the first open jumps.
  restored.reset();
  clock_.Advance(absl::Hours(1));
  auto again = Open();
  EXPECT_EQ(again->Watermark(), jump + 1);
  EXPECT_EQ(AppendOne(*again, Ev("a", "newer")), jump + 2);
}

// Retention runs every retention_interval; until it deletes them, events
// past their topic's age limit are already not served.
TEST_F(RocksDbLogTest, EventsPastTheirAgeLimitAreNotServedBeforeRetentionRuns) {
  options_.retention_rules = {RetentionRule{"a", 0, absl::Minutes(10)}};
  auto log = Open();
  for (int i = 0; i < 3; ++i) AppendOne(*log, Ev("a", absl::StrCat("old", i)));
  // Enough other topics for a read over all of them to scan the id index.
  for (int i = 1; i < 70; ++i) AppendOne(*log, Ev(absl::StrCat("z", i), "no age limit"));
  clock_.Advance(absl::Minutes(5));
  const uint64_t young = AppendOne(*log, Ev("a", "young"));
  clock_.Advance(absl::Minutes(6));
  for (size_t topics : {1, 70}) {  // The merge read and the id-index scan.
    std::vector<std::string> patterns = {"a"};
    for (size_t i = 1; i < topics; ++i) patterns.push_back(absl::StrCat("z", i));
    ReadRequest req;
    req.filter = Filter(patterns);
    req.max_events = 1000;
    absl::StatusOr<ReadResult> r = log->Read(req);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->events.size(), topics) << topics;  // young, and one per z topic
    EXPECT_EQ(r->events.back().id, young);
    for (const Event& e : r->events) EXPECT_NE(e.data.substr(0, 3), "old") << topics;
    EXPECT_TRUE(r->trimmed) << topics;
  }
  absl::StatusOr<uint64_t> earliest = log->EarliestCursor(Filter({"a"}));
  ASSERT_TRUE(earliest.ok()) << earliest.status();
  EXPECT_EQ(*earliest, young - 1);
  ReadRequest from_earliest;
  from_earliest.filter = Filter({"a"});
  from_earliest.after_id = *earliest;
  absl::StatusOr<ReadResult> r = log->Read(from_earliest);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_FALSE(r->trimmed);
  EXPECT_EQ(log->ShortestMaxAge(), absl::Minutes(10));
}

// RocksDB's diagnostics go to Options::diagnostics, never to a LOG file in
// the data dir (whose failed writes abort Debian's librocksdb on a full disk).
TEST_F(RocksDbLogTest, EngineDiagnosticsGoToTheSinkNotToAFile) {
  std::atomic<int> lines{0};
  options_.diagnostics = [&](DiagnosticSeverity, std::string_view line) {
    EXPECT_FALSE(line.empty());
    lines++;
  };
  auto log = Open();
  AppendOne(*log, Ev("a", "1"));
  log.reset();
  for (const auto& entry : std::filesystem::directory_iterator(options_.data_dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_FALSE(name == "LOG" || absl::StartsWith(name, "LOG.old")) << name;
  }
}

// A wiped data dir starts over above every id the old one could have issued.
TEST_F(RocksDbLogTest, FirstIdOfANewLogFollowsTheClock) {
  options_.first_id_from_clock = true;
  auto log = Open();
  const uint64_t first = AppendOne(*log, Ev("a", "1"));
  EXPECT_EQ(first, static_cast<uint64_t>(absl::ToUnixMicros(clock_.Now())) + 1);
  log.reset();
  // The old log's ids are never handed out again by a fresh one.
  std::filesystem::remove_all(options_.data_dir);
  clock_.Advance(absl::Microseconds(1));
  log = Open();
  EXPECT_GT(AppendOne(*log, Ev("a", "2")), first);
  EXPECT_GE(log->IdsStartAfter(), first);
}

TEST_F(RocksDbLogTest, ForeignDirectoryIsRejected) {
  std::filesystem::create_directories(options_.data_dir);
  std::ofstream(options_.data_dir + "/notes.txt") << "hello";
  auto log = OpenRocksDbLog(options_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(log.status().message().find("not a tailgate log"), std::string::npos);

  std::ofstream(options_.data_dir + "/CURRENT") << "garbage\n";
  log = OpenRocksDbLog(options_);
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().code() == absl::StatusCode::kFailedPrecondition ||
              log.status().code() == absl::StatusCode::kDataLoss)
      << log.status();
}

TEST_F(RocksDbLogTest, RocksDbWithoutMarkerIsRejected) {
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, options_.data_dir, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "someone", "else").ok());
  delete db;
  auto log = OpenRocksDbLog(options_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition) << log.status();
}

TEST_F(RocksDbLogTest, CorruptMetadataIsDataLoss) {
  Open()->Append({Ev("a", "x")}).IgnoreError();
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), options_.data_dir, &names).ok());
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), options_.data_dir, cfs, &handles, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "t/a", "\x07garbage").ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete db;
  }
  auto log = OpenRocksDbLog(options_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << log.status();
}

TEST_F(RocksDbLogTest, DirLockedByAnotherOpenerIsUnavailable) {
  auto log = Open();
  auto second = OpenRocksDbLog(options_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_NE(second.status().message().find("locked"), std::string::npos);
}

TEST_F(RocksDbLogTest, InvalidOptionsAreRejected) {
  options_.retention_rules = {{"bad..pattern", 1, absl::ZeroDuration()}};
  auto log = OpenRocksDbLog(options_);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  options_.retention_rules.clear();
  options_.data_dir.clear();
  EXPECT_EQ(OpenRocksDbLog(options_).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tailgate::store

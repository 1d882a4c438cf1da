#include "store/rocksdb_log.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/snapshot.h"
#include "rocksdb/status.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "store/internal/codec.h"
#include "store/internal/commit_listeners.h"
#include "store/internal/log_common.h"
#include "store/internal/rocksdb_logger.h"

namespace tailgate::store {

namespace {
// Debian's Abseil is built without the std::string_view alias.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

absl::Status FromRocksDb(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(AV(what), ": ", s.ToString());
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(msg);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(msg);
    case rocksdb::Status::kInvalidArgument:
    case rocksdb::Status::kNotSupported:
      return absl::FailedPreconditionError(msg);
    case rocksdb::Status::kIOError:
      if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
      // RocksDB reports a held LOCK file as an IOError; the caller can retry
      // once the other owner is gone.
      if (absl::StrContains(s.ToString(), "LOCK") || absl::StrContains(s.ToString(), "lock")) {
        return absl::UnavailableError(msg);
      }
      return absl::InternalError(msg);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kShutdownInProgress:
    case rocksdb::Status::kIncomplete:
      return absl::UnavailableError(msg);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

namespace {

using internal::TopicMeta;

constexpr const char* kEventsCf = "events";
constexpr const char* kIdsCf = "ids";
constexpr const char* kTimeCf = "time";
constexpr const char* kDedupCf = "dedup";
constexpr const char* kDedupTimeCf = "dedup_time";

// Reads over more topics than this scan the id-ordered index instead of
// merging one iterator per topic: iterator setup dominates beyond it.
constexpr size_t kMaxMergeTopics = 64;
// A read skips at most this many non-matching ids before returning, so one
// read stays bounded even when the filter matches nothing.
constexpr size_t kMaxScannedPerRead = 1 << 16;
// Retention deletes in chunks so that each committer turn stays short and
// appends interleave with a long trim.
constexpr size_t kTrimChunk = 8192;
// Trims smaller than this are left to RocksDB's own compactions.
constexpr uint64_t kCompactAfterRemoved = 10000;
// Longest a commit waits for more appends to join it (fsync mode only); well
// under one WAL sync on an SSD.
constexpr absl::Duration kGatherWait = absl::Microseconds(100);
// While writes are suspended (disk full), how often recovery is tried.
constexpr absl::Duration kRecoveryPoll = absl::Seconds(1);

// What publishers see while the disk is full: retryable, and no server path.
absl::Status DiskFullError() {
  return absl::UnavailableError(
      "the event log's disk is full: publishing resumes by itself once space is freed");
}

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

bool DirExists(const std::string& path, bool* is_dir) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return false;
  *is_dir = S_ISDIR(st.st_mode);
  return true;
}

class RocksDbLog final : public Log {
 public:
  RocksDbLog(const Options& options, RocksDbLogHooks hooks)
      : options_(options), hooks_(std::move(hooks)) {}
  ~RocksDbLog() override { Close(); }

  absl::Status Open();

  void AppendAsync(std::vector<EventInput> events, AppendCallback done) override;
  uint64_t Watermark() const override { return watermark_.load(std::memory_order_acquire); }
  uint64_t LastAssignedId() const override { return last_id_.load(std::memory_order_acquire); }
  uint64_t IdsStartAfter() const override { return id_floor_; }
  uint64_t AddCommitListener(CommitListener listener) override;
  void RemoveCommitListener(uint64_t handle) override;
  absl::StatusOr<ReadResult> Read(const ReadRequest& request) override;
  absl::StatusOr<uint64_t> CursorAtTime(absl::Time t) override;
  absl::StatusOr<uint64_t> EarliestCursor(const TopicFilter& filter) override;
  absl::StatusOr<uint64_t> CursorBeforeLast(const TopicFilter& filter, size_t n,
                                            uint64_t up_to_id) override;
  absl::StatusOr<std::vector<TopicInfo>> ListTopics(const TopicFilter& filter) override;
  absl::Status TrimTopic(std::string_view topic, uint64_t up_to_id) override;
  absl::Status DeleteTopic(std::string_view topic) override;
  absl::Status EnforceRetention() override;
  absl::Status Checkpoint(const std::string& dir) override;
  absl::StatusOr<LogStats> Stats() override;
  absl::Status Health() const override;
  uint64_t RemovedThrough() const override {
    return removed_through_.load(std::memory_order_acquire);
  }
  // Read per cache visit by the hub: computed once (the rules never change).
  absl::Duration ShortestMaxAge() const override { return shortest_max_age_; }
  void Close() override;

 private:
  struct AppendOp {
    std::vector<EventInput> events;
    size_t bytes = 0;  // Data bytes of `events`.
    AppendCallback done;
    absl::Status error;  // set when validation failed: reported in order, nothing stored
  };
  // Either an append or a maintenance task; both run on the committer thread
  // so that it is the only writer of the log and of topic metadata.
  struct Item {
    AppendOp append;
    std::function<void()> task;
  };
  struct Removed {
    uint64_t id;
    int64_t micros;
    uint64_t bytes;
  };
  // One commit's outcome.
  struct AckGroup {
    std::vector<AppendOp> ops;
    std::vector<std::vector<AppendResult>> results;
    std::vector<Event> committed;
    uint64_t last = 0;
    absl::Status failure;
  };
  // What an idempotency key already names: an event stored by an earlier
  // commit, or one of this commit's (its index in the commit's events).
  static constexpr size_t kStored = ~size_t{0};
  struct DedupEntry {
    uint64_t id;
    size_t committed_index;
  };
  struct CompactRange {
    rocksdb::ColumnFamilyHandle* cf;
    std::string begin;
    std::string end;  // empty = open end
  };

  absl::Status OpenDb();
  absl::Status LoadState();
  absl::Status ContinueIdsAfterRestore(uint64_t* last);
  void StartThreads();

  void CommitterLoop();
  void CommitAppends(std::vector<AppendOp>& ops);
  // ALREADY_EXISTS when an event of `events` reuses an idempotency key (of
  // `seen`, or of an earlier event of `events`) for a different type or
  // data: a retry must repeat the event, and a new event needs a new key.
  absl::Status CheckKeyReuse(const std::vector<EventInput>& events,
                             const absl::flat_hash_map<std::string, DedupEntry>& seen,
                             const std::vector<Event>& committed);
  // Advances the watermark, tells listeners, and runs the callbacks.
  void Acknowledge(AckGroup& group);
  // Runs `fn` on the committer thread and waits for it; UNAVAILABLE once
  // closing.
  absl::Status RunOnCommitter(std::function<absl::Status()> fn);
  absl::Status WriteBatch(rocksdb::WriteBatch* batch);
  // After a failed commit write: what its publishers are told. A full disk
  // suspends appends until TryRecover succeeds; other failures are INTERNAL
  // with the detail left to the server's own log (commit_error_observer).
  absl::Status OnWriteFailure(const rocksdb::Status& s);
  // While suspended: asks RocksDB to resume (it flushes and opens a new WAL,
  // which fails again while the disk is still full). Retention thread.
  void TryRecover();

  void RetentionLoop();
  absl::Status EnforceRetentionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  absl::Status ExpireDedupLocked(int64_t cutoff_micros) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  // Removes the topic's events with id <= up_to_id; adds the count to *removed.
  absl::Status TrimThroughLocked(const std::string& topic, uint64_t up_to_id, uint64_t* removed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  void RunPendingCompactions();

  // Collects the non-deleted topics matching `filter` (deduplicated) and
  // whether any matching topic lost events above after_id.
  void MatchTopics(const TopicFilter& filter, uint64_t after_id,
                   std::vector<std::pair<std::string, TopicMeta>>* out, bool* trimmed);
  // Events of `topic` published before this (in microseconds) are past its
  // age limit: never served, even before retention deletes them.
  int64_t ExpiryCutoff(std::string_view topic, absl::Time now) const;
  absl::Status MergeRead(const std::vector<std::string>& topics, const ReadRequest& req,
                         uint64_t bound, const rocksdb::Snapshot* snap, ReadResult* result);
  absl::Status ScanRead(const std::vector<std::string>& topics, const ReadRequest& req,
                        uint64_t bound, const rocksdb::Snapshot* snap, ReadResult* result);

  const Options options_;
  const RocksDbLogHooks hooks_;
  internal::RetentionRules rules_;  // set by Open
  absl::Duration shortest_max_age_ = absl::InfiniteDuration();  // set by Open
  rocksdb::WriteOptions write_options_;

  // db_ is created by Open and destroyed by Close; readers hold db_mu_
  // shared so Close cannot pull it from under them.
  mutable absl::Mutex db_mu_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* cf_meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_events_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_ids_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_time_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_dedup_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_dedup_time_ = nullptr;

  std::atomic<uint64_t> watermark_{0};
  std::atomic<uint64_t> last_id_{0};
  uint64_t id_floor_ = 0;  // Set by Open.

  // Set by the committer when a write fails for lack of space, cleared by
  // TryRecover: while set, appends fail at once with DiskFullError.
  std::atomic<bool> suspended_{false};

  // See Log::RemovedThrough. Raised under maint_mu_ only.
  std::atomic<uint64_t> removed_through_{0};
  void RaiseRemovedThrough(uint64_t id) {
    if (id > removed_through_.load(std::memory_order_relaxed)) {
      removed_through_.store(id, std::memory_order_release);
    }
  }

  // Topic metadata. Written only by the committer thread (under the lock, so
  // readers see whole updates); readers take it shared and briefly.
  mutable absl::Mutex meta_mu_;
  std::map<std::string, TopicMeta, std::less<>> topics_ ABSL_GUARDED_BY(meta_mu_);
  uint64_t total_events_ ABSL_GUARDED_BY(meta_mu_) = 0;
  uint64_t total_bytes_ ABSL_GUARDED_BY(meta_mu_) = 0;

  absl::Mutex queue_mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(queue_mu_);
  size_t queued_events_ ABSL_GUARDED_BY(queue_mu_) = 0;
  size_t gather_target_ ABSL_GUARDED_BY(queue_mu_) = 0;
  bool accepting_ ABSL_GUARDED_BY(queue_mu_) = false;
  bool stop_committer_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread committer_;

  std::thread::id committer_id_;

  internal::CommitListeners listeners_;

  // Serializes retention, TrimTopic and DeleteTopic: each plans deletes from
  // a snapshot and that plan stays valid only if no other delete intervenes.
  absl::Mutex maint_mu_;
  std::vector<CompactRange> pending_compactions_ ABSL_GUARDED_BY(maint_mu_);

  absl::Mutex retention_mu_;
  bool stop_retention_ ABSL_GUARDED_BY(retention_mu_) = false;
  std::thread retention_;
  std::atomic<bool> cancel_compaction_{false};

  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;
};

// ---------------------------------------------------------------------------
// Open

absl::Status RocksDbLog::Open() {
  if (options_.data_dir.empty()) return absl::InvalidArgumentError("data_dir: must be set");
  absl::StatusOr<internal::RetentionRules> rules = internal::RetentionRules::Parse(options_);
  if (!rules.ok()) return rules.status();
  rules_ = *std::move(rules);
  shortest_max_age_ = rules_.ShortestMaxAge();
  switch (options_.durability) {
    case Durability::kFsync:
      // Syncing inside the write (rather than a separate SyncWAL on another
      // thread) measured faster: while the committer waits on the disk,
      // appenders refill the queue, so the next group is a large one.
      write_options_.sync = true;
      break;
    case Durability::kWal:
      write_options_.sync = false;
      break;
    case Durability::kNone:
      write_options_.disableWAL = true;
      break;
  }
  if (absl::Status s = OpenDb(); !s.ok()) return s;
  if (absl::Status s = LoadState(); !s.ok()) return s;
  StartThreads();
  return absl::OkStatus();
}

absl::Status RocksDbLog::OpenDb() {
  const std::string& dir = options_.data_dir;
  bool is_dir = false;
  bool fresh = true;
  if (DirExists(dir, &is_dir)) {
    if (!is_dir) {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir, " is not a directory"));
    }
    std::error_code ec;
    bool has_files = std::filesystem::directory_iterator(dir, ec) !=
                     std::filesystem::directory_iterator();
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir, " cannot be listed: ", ec.message()));
    }
    bool has_current = std::filesystem::exists(dir + "/CURRENT", ec);
    if (has_files && !has_current) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", dir, " is not a tailgate log: it holds files but no RocksDB database"));
    }
    fresh = !has_current;
  }

  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = fresh;
  db_opts.create_missing_column_families = fresh;
  db_opts.max_background_jobs = 2;
  db_opts.bytes_per_sync = 1 << 20;
  // Several column families share the WAL; a rarely written one would pin
  // old WAL files forever without this cap.
  db_opts.max_total_wal_size = uint64_t{256} << 20;
  db_opts.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // No LOG file in the data dir: see rocksdb_logger.h.
  db_opts.info_log = internal::NewRocksDbLogger(options_.diagnostics, db_opts.info_log_level);

  std::vector<std::string> wanted = {rocksdb::kDefaultColumnFamilyName, kEventsCf, kIdsCf,
                                     kTimeCf, kDedupCf, kDedupTimeCf};
  if (!fresh) {
    std::vector<std::string> existing;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_opts, dir, &existing);
    if (!s.ok()) {
      absl::Status st = FromRocksDb(s, absl::StrCat("reading data dir ", dir));
      if (st.code() == absl::StatusCode::kDataLoss) return st;
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir, " is not a readable tailgate log: ", st.message()));
    }
    for (const std::string& name : wanted) {
      if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "data dir ", dir, " is not a tailgate log: column family \"", name, "\" is missing"));
      }
    }
  }

  auto cache = rocksdb::NewLRUCache(64 << 20);
  auto cf_options = [&](bool point_lookups, size_t write_buffer) {
    rocksdb::ColumnFamilyOptions o;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    if (point_lookups) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    o.write_buffer_size = write_buffer;
    o.max_write_buffer_number = 4;
    o.level_compaction_dynamic_level_bytes = true;
    return o;
  };
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cf_options(true, 4 << 20)},
      {kEventsCf, cf_options(true, 64 << 20)},
      {kIdsCf, cf_options(false, 16 << 20)},
      {kTimeCf, cf_options(false, 8 << 20)},
      {kDedupCf, cf_options(true, 8 << 20)},
      {kDedupTimeCf, cf_options(false, 4 << 20)},
  };
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_opts, dir, cfs, &handles_, &raw);
  if (s.IsNoSpace()) {
    // Opening replays the write-ahead log into new table files: it needs room.
    return absl::ResourceExhaustedError(
        "the disk is full (no space left on device); opening the log needs free space "
        "(at least the size of its write-ahead log): free some and start again");
  }
  if (!s.ok()) {
    absl::Status st = FromRocksDb(s, absl::StrCat("opening data dir ", dir));
    if (st.code() == absl::StatusCode::kUnavailable) {
      return absl::UnavailableError(absl::StrCat(
          "data dir ", dir, " is locked by another process (is another tailgate running?): ",
          s.ToString()));
    }
    return st;
  }
  db_.reset(raw);
  cf_meta_ = handles_[0];
  cf_events_ = handles_[1];
  cf_ids_ = handles_[2];
  cf_time_ = handles_[3];
  cf_dedup_ = handles_[4];
  cf_dedup_time_ = handles_[5];

  std::string marker;
  s = db_->Get(rocksdb::ReadOptions(), cf_meta_, ToSlice(internal::kFormatKey), &marker);
  if (s.IsNotFound()) {
    // A dir we created but crashed before marking is still empty: finish
    // creating it. Anything else without the marker belongs to someone else.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_meta_));
    it->SeekToFirst();
    std::unique_ptr<rocksdb::Iterator> it2(db_->NewIterator(rocksdb::ReadOptions(), cf_events_));
    it2->SeekToFirst();
    if (it->Valid() || it2->Valid()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", dir, " is not a tailgate log: RocksDB database without the \"",
          AV(internal::kFormatKey), "\" marker"));
    }
    rocksdb::WriteBatch batch;
    batch.Put(cf_meta_, ToSlice(internal::kFormatKey), ToSlice(internal::kFormatValue));
    // A new log's ids start above its creation time in microseconds, for the
    // reason ContinueIdsAfterRestore gives: if this dir replaces a lost or
    // wiped one, a client holding one of its ids gets `unknown_id` instead
    // of resuming after it and silently skipping the new events.
    const uint64_t before_first =
        options_.first_id_from_clock
            ? static_cast<uint64_t>(std::max<int64_t>(0, ToMicros(hooks_.clock())))
            : 0;
    std::string first;
    internal::PutFixed64(&first, before_first);
    batch.Put(cf_meta_, ToSlice(internal::kLastIdKey), first);
    batch.Put(cf_meta_, ToSlice(internal::kIdFloorKey), first);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db_->Write(wo, &batch);
    if (!s.ok()) return FromRocksDb(s, "initializing data dir");
  } else if (!s.ok()) {
    return FromRocksDb(s, "reading format marker");
  } else if (marker != internal::kFormatValue) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", dir, " has unsupported format \"", marker, "\" (want \"",
                     AV(internal::kFormatValue), "\")"));
  }
  return absl::OkStatus();
}

absl::Status RocksDbLog::LoadState() {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_meta_, ToSlice(internal::kLastIdKey), &value);
  if (!s.ok()) return FromRocksDb(s, "reading last id");
  if (value.size() != 8) return absl::DataLossError("last id record is malformed");
  uint64_t last = internal::GetFixed64(value.data());
  s = db_->Get(rocksdb::ReadOptions(), cf_meta_, ToSlice(internal::kIdFloorKey), &value);
  if (s.ok()) {
    if (value.size() != 8) return absl::DataLossError("id floor record is malformed");
    id_floor_ = internal::GetFixed64(value.data());
  } else if (!s.IsNotFound()) {
    return FromRocksDb(s, "reading the id floor");
  }

  // The persisted last id is authoritative (written with every commit); the
  // index check only guards against a hand-edited or damaged meta record.
  std::unique_ptr<rocksdb::Iterator> ids(db_->NewIterator(rocksdb::ReadOptions(), cf_ids_));
  ids->SeekToLast();
  if (ids->Valid()) {
    if (ids->key().size() != 8) return absl::DataLossError("id index holds a malformed key");
    last = std::max(last, internal::IdFromIdKey(ToView(ids->key())));
  }
  if (!ids->status().ok()) return FromRocksDb(ids->status(), "reading id index");

  absl::MutexLock lock(&meta_mu_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_meta_));
  for (it->Seek(ToSlice(internal::kTopicMetaPrefix));
       it->Valid() && it->key().starts_with(ToSlice(internal::kTopicMetaPrefix)); it->Next()) {
    TopicMeta m;
    std::string_view key = ToView(it->key());
    key.remove_prefix(internal::kTopicMetaPrefix.size());
    if (!internal::DecodeTopicMeta(ToView(it->value()), &m)) {
      return absl::DataLossError(absl::StrCat("metadata of topic \"", AV(key), "\" is malformed"));
    }
    if (!m.deleted) {
      total_events_ += m.count;
      total_bytes_ += m.bytes;
    }
    last = std::max(last, m.last_id);
    topics_.emplace(std::string(key), m);
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "reading topic metadata");
  if (absl::Status s = ContinueIdsAfterRestore(&last); !s.ok()) return s;
  last_id_.store(last);
  watermark_.store(last);
  return absl::OkStatus();
}

// A checkpoint is a past state of a log that went on handing out ids. Opened
// as a log, it would hand the same ids out again for other events, and a
// client holding one of them would resume after it and miss the new events
// up to it. So the first open of a checkpoint continues from the current
// time in microseconds: no log hands out ids faster than one per
// microsecond (a few hundred thousand per second at most), and every log's
// ids start at 1 or at such a jump, so this is above any id the old log
// issued. Clients holding a lost id then resume with the new events (none
// of which they can have seen), without a reset.
absl::Status RocksDbLog::ContinueIdsAfterRestore(uint64_t* last) {
  const std::string marker = internal::RestoreMarkerPath(options_.data_dir);
  std::error_code ec;
  if (!std::filesystem::exists(marker, ec)) {
    if (ec) return absl::InternalError(absl::StrCat("checking ", marker, ": ", ec.message()));
    return absl::OkStatus();
  }
  *last = std::max(*last, static_cast<uint64_t>(std::max<int64_t>(0, ToMicros(hooks_.clock()))));
  std::string value;
  internal::PutFixed64(&value, *last);
  rocksdb::WriteOptions wo;
  wo.sync = true;  // Before the marker goes: a crash in between only jumps again.
  rocksdb::Status s = db_->Put(wo, cf_meta_, ToSlice(internal::kLastIdKey), value);
  if (!s.ok()) return FromRocksDb(s, "continuing ids after a restore");
  if (!std::filesystem::remove(marker, ec) && ec) {
    return absl::InternalError(absl::StrCat("removing ", marker, ": ", ec.message()));
  }
  return absl::OkStatus();
}

void RocksDbLog::StartThreads() {
  {
    absl::MutexLock lock(&queue_mu_);
    accepting_ = true;
  }
  committer_ = std::thread([this] { CommitterLoop(); });
  committer_id_ = committer_.get_id();
  retention_ = std::thread([this] { RetentionLoop(); });
}

// ---------------------------------------------------------------------------
// Append and the committer

void RocksDbLog::AppendAsync(std::vector<EventInput> events, AppendCallback done) {
  AppendOp op;
  op.error = internal::ValidateAppend(events, options_.max_data_bytes);
  if (op.error.ok() && suspended_.load(std::memory_order_acquire)) op.error = DiskFullError();
  op.events = std::move(events);
  for (const EventInput& e : op.events) op.bytes += e.data.size();
  op.done = std::move(done);
  {
    absl::MutexLock lock(&queue_mu_);
    if (accepting_) {
      // Rejected appends queue too, so a caller's acks keep its order.
      queued_events_ += op.events.size();
      queue_.push_back(Item{std::move(op), nullptr});
      return;
    }
  }
  op.done(absl::UnavailableError("log is closed"));
}

absl::Status RocksDbLog::RunOnCommitter(std::function<absl::Status()> fn) {
  absl::Status result;
  absl::Notification finished;
  {
    absl::MutexLock lock(&queue_mu_);
    if (!accepting_) return absl::UnavailableError("log is closed");
    Item item;
    item.task = [&] {
      result = fn();
      finished.Notify();
    };
    queue_.push_back(std::move(item));
  }
  finished.WaitForNotification();
  return result;
}

absl::Status RocksDbLog::WriteBatch(rocksdb::WriteBatch* batch) {
  return FromRocksDb(db_->Write(write_options_, batch), "writing to the log");
}

absl::Status RocksDbLog::OnWriteFailure(const rocksdb::Status& s) {
  if (s.IsNoSpace()) {
    suspended_.store(true, std::memory_order_release);
    return DiskFullError();
  }
  return absl::InternalError("the event log failed to store the events (see the server's log)");
}

absl::Status RocksDbLog::Health() const {
  if (suspended_.load(std::memory_order_acquire)) {
    return absl::UnavailableError("the event log's disk is full (no space left on device)");
  }
  return absl::OkStatus();
}

void RocksDbLog::TryRecover() {
  absl::ReaderMutexLock lock(&db_mu_);
  if (db_ == nullptr) return;
  // OK once RocksDB has no background error left: its own recovery (the
  // SstFileManager polls free space) may already have done it.
  rocksdb::Status s = db_->Resume();
  if (s.ok()) suspended_.store(false, std::memory_order_release);
}

void RocksDbLog::CommitterLoop() {
  const size_t max_events = std::max<size_t>(1, options_.max_commit_events);
  // Waiting to gather only pays when each commit waits for the disk.
  const bool gather = options_.durability == Durability::kFsync;
  size_t last_group = 0;
  std::vector<AppendOp> ops;
  for (;;) {
    std::function<void()> task;
    ops.clear();
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](RocksDbLog* self) { return !self->queue_.empty() || self->stop_committer_; },
          this));
      if (queue_.empty()) return;  // stopping and drained
      if (gather && !stop_committer_ && queued_events_ < last_group) {
        // A sync costs far more than a short wait: when the previous group
        // was bigger than what is queued, its appenders are likely about to
        // append again, so give them a moment to join this group.
        gather_target_ = last_group;
        queue_mu_.AwaitWithTimeout(
            absl::Condition(
                +[](RocksDbLog* self) {
                  return self->queued_events_ >= self->gather_target_ || self->stop_committer_;
                },
                this),
            kGatherWait);
      }
      if (queue_.front().task) {
        task = std::move(queue_.front().task);
        queue_.pop_front();
      } else {
        size_t n = 0;
        size_t bytes = 0;
        while (!queue_.empty() && !queue_.front().task) {
          const size_t k = queue_.front().append.events.size();
          const size_t b = queue_.front().append.bytes;
          if (!ops.empty() && (n + k > max_events || bytes + b > options_.max_commit_bytes)) break;
          n += k;
          bytes += b;
          ops.push_back(std::move(queue_.front().append));
          queue_.pop_front();
        }
        queued_events_ -= n;
        last_group = n;
      }
    }
    if (task) {
      task();
    } else {
      CommitAppends(ops);
    }
  }
}

void RocksDbLog::CommitAppends(std::vector<AppendOp>& ops) {
  const absl::Time now = hooks_.clock();
  const int64_t now_micros = ToMicros(now);
  const int64_t dedup_cutoff = ToMicros(now - options_.dedup_window);

  // Look up every idempotency key of the group in one MultiGet.
  std::vector<std::string> dedup_keys;
  for (const AppendOp& op : ops) {
    if (!op.error.ok()) continue;
    for (const EventInput& e : op.events) {
      if (!e.idempotency_key.empty()) dedup_keys.push_back(internal::DedupKey(e.topic, e.idempotency_key));
    }
  }
  absl::flat_hash_map<std::string, DedupEntry> seen;  // dedup key -> original
  absl::Status failure;
  if (!dedup_keys.empty()) {
    std::vector<rocksdb::Slice> slices(dedup_keys.begin(), dedup_keys.end());
    std::vector<rocksdb::PinnableSlice> values(slices.size());
    std::vector<rocksdb::Status> statuses(slices.size());
    db_->MultiGet(rocksdb::ReadOptions(), cf_dedup_, slices.size(), slices.data(), values.data(),
                  statuses.data());
    for (size_t i = 0; i < slices.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) {
        if (options_.commit_error_observer) {
          options_.commit_error_observer(FromRocksDb(statuses[i], "reading idempotency keys"));
        }
        failure = absl::InternalError(
            "the event log failed to read idempotency keys (see the server's log)");
        break;
      }
      internal::DedupValue v;
      if (internal::DecodeDedupValue(ToView(values[i]), &v) && v.seen_micros >= dedup_cutoff) {
        seen.emplace(dedup_keys[i], DedupEntry{v.id, kStored});
      }
    }
  }

  // Sized up front: growing the batch by doubling copied it several times
  // per commit. Per event: the event and id index entries (key, value,
  // record headers) with room for a dedup entry's key.
  size_t batch_bytes = 256;
  for (const AppendOp& op : ops) {
    for (const EventInput& e : op.events) {
      batch_bytes += 96 + 3 * e.topic.size() + e.type.size() + e.data.size() +
                     2 * e.idempotency_key.size();
    }
  }
  rocksdb::WriteBatch batch(batch_bytes);
  std::map<std::string, TopicMeta, std::less<>> touched;
  std::vector<Event> committed;
  std::vector<std::vector<AppendResult>> results(ops.size());
  uint64_t next = last_id_.load(std::memory_order_relaxed) + 1;
  std::string value;
  // The time index needs only the last id of each run of events with the
  // same publish time: CursorAtTime wants the greatest (time, id) below a
  // time, and a commit's events mostly share the commit's clock reading, so
  // this is about one entry per commit instead of one per event.
  std::optional<std::pair<int64_t, uint64_t>> time_run;  // (micros, last id)
  auto end_time_run = [&] {
    if (time_run) batch.Put(cf_time_, internal::TimeKey(time_run->first, time_run->second), rocksdb::Slice());
  };
  if (failure.ok()) {
    for (size_t o = 0; o < ops.size(); ++o) {
      AppendOp& op = ops[o];
      if (!op.error.ok()) continue;
      op.error = CheckKeyReuse(op.events, seen, committed);
      if (!op.error.ok()) continue;
      results[o].reserve(op.events.size());
      for (EventInput& e : op.events) {
        std::string dk;
        if (!e.idempotency_key.empty()) {
          dk = internal::DedupKey(e.topic, e.idempotency_key);
          auto it = seen.find(dk);
          if (it != seen.end()) {
            results[o].push_back(AppendResult{it->second.id, true});
            continue;
          }
        }
        const uint64_t id = next++;
        const int64_t micros =
            e.publish_time == absl::InfinitePast() ? now_micros : ToMicros(e.publish_time);
        if (!dk.empty()) {
          batch.Put(cf_dedup_, dk, internal::EncodeDedupValue({id, now_micros}));
          batch.Put(cf_dedup_time_, internal::DedupTimeKey(now_micros, dk), rocksdb::Slice());
          seen.emplace(std::move(dk), DedupEntry{id, committed.size()});
        }
        internal::EncodeEventValue(&value, micros, e.type, e.data);
        batch.Put(cf_events_, internal::EventKey(e.topic, id), value);
        internal::EncodeIdValue(&value, e.topic, e.data.size(), micros);
        batch.Put(cf_ids_, internal::IdKey(id), value);
        if (time_run && time_run->first != micros) end_time_run();
        time_run.emplace(micros, id);

        auto t = touched.find(e.topic);
        if (t == touched.end()) {
          TopicMeta m;
          {
            // Only this thread writes topics_, so the read needs no lock
            // against writers; readers hold it shared.
            absl::ReaderMutexLock lock(&meta_mu_);
            auto cur = topics_.find(e.topic);
            if (cur != topics_.end()) m = cur->second;
          }
          t = touched.emplace(e.topic, m).first;
        }
        TopicMeta& m = t->second;
        if (m.deleted) m = TopicMeta{0, 0, 0, 0, m.trimmed_through, false};
        if (m.count == 0) m.first_id = id;
        m.last_id = id;
        m.count++;
        m.bytes += e.data.size();
        results[o].push_back(AppendResult{id, false});
        committed.push_back(Event{id, std::move(e.topic), std::move(e.type), std::move(e.data),
                                  absl::FromUnixMicros(micros)});
      }
    }
  }

  const uint64_t last = next - 1;
  if (failure.ok() && !committed.empty()) {
    end_time_run();
    for (const auto& [topic, m] : touched) {
      batch.Put(cf_meta_, internal::TopicMetaKey(topic), internal::EncodeTopicMeta(m));
    }
    std::string last_value;
    internal::PutFixed64(&last_value, last);
    batch.Put(cf_meta_, ToSlice(internal::kLastIdKey), last_value);
    const auto write_start = std::chrono::steady_clock::now();
    const rocksdb::Status written = db_->Write(write_options_, &batch);
    if (written.ok()) {
      if (options_.commit_observer) {
        options_.commit_observer(committed.size(),
                                 absl::FromChrono(std::chrono::steady_clock::now() - write_start));
      }
    } else {
      // The observer (the server's log) gets the detail; publishers get
      // OnWriteFailure's message, which names no server path.
      if (options_.commit_error_observer) {
        options_.commit_error_observer(FromRocksDb(written, "writing to the log"));
      }
      failure = OnWriteFailure(written);
    }
    // Ids handed to a failed write are never reused: the write may have
    // reached the disk even though it reported an error.
    last_id_.store(last, std::memory_order_release);
  }

  if (failure.ok() && !committed.empty()) {
    // Metadata moves before the watermark: a reader that saw the watermark
    // also finds every topic committed below it.
    absl::MutexLock lock(&meta_mu_);
    for (auto& [topic, m] : touched) {
      auto it = topics_.find(topic);
      if (it == topics_.end()) {
        topics_.emplace(topic, m);
      } else {
        if (!it->second.deleted) {  // a deleted topic's events were discounted already
          total_events_ -= it->second.count;
          total_bytes_ -= it->second.bytes;
        }
        it->second = m;
      }
      total_events_ += m.count;
      total_bytes_ += m.bytes;
    }
  }

  AckGroup group;
  group.ops = std::move(ops);
  group.results = std::move(results);
  group.committed = std::move(committed);
  group.last = last;
  group.failure = std::move(failure);
  Acknowledge(group);
}

absl::Status RocksDbLog::CheckKeyReuse(const std::vector<EventInput>& events,
                                       const absl::flat_hash_map<std::string, DedupEntry>& seen,
                                       const std::vector<Event>& committed) {
  absl::flat_hash_map<std::string, const EventInput*> first_in_op;
  for (size_t i = 0; i < events.size(); ++i) {
    const EventInput& e = events[i];
    if (e.idempotency_key.empty()) continue;
    std::string dk = internal::DedupKey(e.topic, e.idempotency_key);
    std::string_view type, data;
    uint64_t id = 0;
    std::string stored;  // keeps a stored original's bytes alive
    if (auto it = seen.find(dk); it != seen.end()) {
      id = it->second.id;
      if (it->second.committed_index != kStored) {
        const Event& original = committed[it->second.committed_index];
        type = original.type;
        data = original.data;
      } else {
        rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_events_,
                                     internal::EventKey(e.topic, id), &stored);
        internal::EventValue v;
        // An original that retention already removed cannot be compared:
        // the key still names it, so the append is a duplicate as before.
        if (!s.ok() || !internal::DecodeEventValue(stored, &v)) continue;
        type = v.type;
        data = v.data;
      }
    } else if (auto [at, fresh] = first_in_op.emplace(std::move(dk), &e); !fresh) {
      type = at->second->type;
      data = at->second->data;
    } else {
      continue;
    }
    if (type != e.type || data != e.data) {
      return absl::AlreadyExistsError(absl::StrCat(
          events.size() > 1 ? absl::StrCat("events[", i, "]: ") : std::string(),
          "idempotency_key \"", AV(e.idempotency_key), "\" was already used on topic \"",
          AV(e.topic), "\"", id != 0 ? absl::StrCat(" (event id ", id, ")") : std::string(),
          " for an event with a different ", type != e.type ? "type" : "data",
          ": a retry must send the same event; a new event needs a new key"));
    }
  }
  return absl::OkStatus();
}

void RocksDbLog::Acknowledge(AckGroup& g) {
  if (g.failure.ok() && !g.committed.empty()) {
    watermark_.store(g.last, std::memory_order_release);
    listeners_.Notify(g.committed, g.last);
  }
  for (size_t o = 0; o < g.ops.size(); ++o) {
    AppendOp& op = g.ops[o];
    if (!op.error.ok()) {
      op.done(op.error);
    } else if (!g.failure.ok()) {
      op.done(g.failure);
    } else {
      op.done(std::move(g.results[o]));
    }
  }
}

uint64_t RocksDbLog::AddCommitListener(CommitListener listener) {
  return listeners_.Add(std::move(listener));
}

void RocksDbLog::RemoveCommitListener(uint64_t handle) {
  listeners_.Remove(handle, std::this_thread::get_id() == committer_id_);
}

// ---------------------------------------------------------------------------
// Reads

void RocksDbLog::MatchTopics(const TopicFilter& filter, uint64_t after_id,
                             std::vector<std::pair<std::string, TopicMeta>>* out,
                             bool* trimmed) {
  absl::flat_hash_set<std::string_view> added;
  absl::ReaderMutexLock lock(&meta_mu_);
  auto consider = [&](const std::string& topic, const TopicMeta& m) {
    if (m.trimmed_through > after_id) *trimmed = true;
    if (m.deleted || !added.insert(topic).second) return;
    out->emplace_back(topic, m);
  };
  for (const TopicPattern& p : filter.patterns()) {
    if (p.IsExact()) {
      auto it = topics_.find(p.str());
      if (it != topics_.end()) consider(it->first, it->second);
      continue;
    }
    const std::string& prefix = p.LiteralPrefix();
    for (auto it = topics_.lower_bound(prefix);
         it != topics_.end() && absl::StartsWith(it->first, prefix); ++it) {
      if (p.Matches(it->first)) consider(it->first, it->second);
    }
  }
}

absl::StatusOr<ReadResult> RocksDbLog::Read(const ReadRequest& request) {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  // Load the watermark before taking the snapshot: everything at or below
  // it is then visible in the snapshot.
  const uint64_t wm = Watermark();
  const uint64_t bound = request.up_to_id == 0 ? wm : std::min(request.up_to_id, wm);
  ReadResult result;
  result.next_after_id = request.after_id;
  if (request.after_id >= bound) {
    result.reached_end = true;
    return result;
  }
  std::vector<std::pair<std::string, TopicMeta>> matched;
  MatchTopics(request.filter, request.after_id, &matched, &result.trimmed);
  std::vector<std::string> topics;
  for (auto& [topic, m] : matched) {
    // Topics with nothing in (after_id, bound] need no iterator.
    if (m.count > 0 && m.last_id > request.after_id && m.first_id <= bound) {
      topics.push_back(std::move(topic));
    }
  }
  if (topics.empty()) {
    result.reached_end = true;
    result.next_after_id = bound;
    return result;
  }
  rocksdb::ManagedSnapshot snap(db_.get());
  absl::Status s = topics.size() <= kMaxMergeTopics
                       ? MergeRead(topics, request, bound, snap.snapshot(), &result)
                       : ScanRead(topics, request, bound, snap.snapshot(), &result);
  if (!s.ok()) return s;
  return result;
}

int64_t RocksDbLog::ExpiryCutoff(std::string_view topic, absl::Time now) const {
  const absl::Duration max_age = rules_.For(topic).max_age;
  if (max_age <= absl::ZeroDuration()) return std::numeric_limits<int64_t>::min();
  return ToMicros(now - max_age);
}

absl::Status RocksDbLog::MergeRead(const std::vector<std::string>& topics, const ReadRequest& req,
                                   uint64_t bound, const rocksdb::Snapshot* snap,
                                   ReadResult* result) {
  const absl::Time now = hooks_.clock();
  struct Cursor {
    std::string topic;
    int64_t cutoff;
    std::string upper;
    rocksdb::Slice upper_slice;
    std::unique_ptr<rocksdb::Iterator> it;
    uint64_t id = 0;
  };
  std::vector<std::unique_ptr<Cursor>> cursors;
  cursors.reserve(topics.size());
  auto cmp = [](const Cursor* a, const Cursor* b) { return a->id > b->id; };
  std::priority_queue<Cursor*, std::vector<Cursor*>, decltype(cmp)> heap(cmp);
  auto load_id = [](Cursor* c) {
    std::string_view key = ToView(c->it->key());
    c->id = internal::GetBigEndian64(key.data() + key.size() - 8);
  };
  for (const std::string& topic : topics) {
    auto c = std::make_unique<Cursor>();
    c->topic = topic;
    c->cutoff = ExpiryCutoff(topic, now);
    c->upper = internal::EventKey(topic, bound + 1);
    c->upper_slice = c->upper;
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    ro.iterate_upper_bound = &c->upper_slice;
    ro.adaptive_readahead = true;
    c->it.reset(db_->NewIterator(ro, cf_events_));
    c->it->Seek(internal::EventKey(topic, req.after_id + 1));
    if (c->it->Valid()) {
      load_id(c.get());
      heap.push(c.get());
    } else if (!c->it->status().ok()) {
      return FromRocksDb(c->it->status(), "reading events");
    }
    cursors.push_back(std::move(c));
  }

  const size_t max_events = std::max<size_t>(1, req.max_events);
  size_t bytes = 0;
  std::vector<Event>& out = result->events;
  out.reserve(std::min<size_t>(max_events, 1024));
  while (!heap.empty()) {
    Cursor* c = heap.top();
    internal::EventValue v;
    if (!internal::DecodeEventValue(ToView(c->it->value()), &v)) {
      return absl::DataLossError(
          absl::StrCat("event ", c->id, " of topic \"", c->topic, "\" is malformed"));
    }
    const size_t size = v.data.size() + c->topic.size();
    const bool expired = v.publish_micros < c->cutoff;
    if (!expired &&
        (out.size() >= max_events || (!out.empty() && bytes + size > req.max_bytes))) {
      result->next_after_id = out.back().id;
      return absl::OkStatus();
    }
    heap.pop();
    if (expired) {
      // Past its age limit, not yet deleted by retention: as good as removed.
      result->trimmed = true;
    } else {
      bytes += size;
      Event& e = out.emplace_back();
      e.id = c->id;
      e.topic = c->topic;
      e.type.assign(v.type);
      e.data.assign(v.data);
      e.publish_time = absl::FromUnixMicros(v.publish_micros);
    }
    c->it->Next();
    if (c->it->Valid()) {
      load_id(c);
      heap.push(c);
    } else if (!c->it->status().ok()) {
      return FromRocksDb(c->it->status(), "reading events");
    }
  }
  result->reached_end = true;
  result->next_after_id = bound;
  return absl::OkStatus();
}

absl::Status RocksDbLog::ScanRead(const std::vector<std::string>& topics, const ReadRequest& req,
                                  uint64_t bound, const rocksdb::Snapshot* snap,
                                  ReadResult* result) {
  const absl::Time now = hooks_.clock();
  absl::flat_hash_map<std::string_view, int64_t> wanted;  // topic -> expiry cutoff
  for (const std::string& t : topics) wanted.emplace(t, ExpiryCutoff(t, now));
  std::string upper = internal::IdKey(bound + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.iterate_upper_bound = &upper_slice;
  ro.adaptive_readahead = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_ids_));

  const size_t max_events = std::max<size_t>(1, req.max_events);
  std::vector<std::string> keys;
  size_t bytes = 0;
  size_t scanned = 0;
  bool stopped = false;
  uint64_t last_scanned = req.after_id;
  for (it->Seek(internal::IdKey(req.after_id + 1)); it->Valid(); it->Next()) {
    const uint64_t id = internal::IdFromIdKey(ToView(it->key()));
    internal::IdValue v;
    if (!internal::DecodeIdValue(ToView(it->value()), &v)) {
      return absl::DataLossError(absl::StrCat("id index entry ", id, " is malformed"));
    }
    auto w = wanted.find(v.topic);
    if (w != wanted.end() && v.publish_micros < w->second) {
      result->trimmed = true;  // Past its age limit (see MergeRead).
    } else if (w != wanted.end()) {
      const size_t size = v.data_bytes + v.topic.size();
      if (keys.size() >= max_events || (!keys.empty() && bytes + size > req.max_bytes)) {
        stopped = true;
        break;
      }
      bytes += size;
      keys.push_back(internal::EventKey(v.topic, id));
    }
    last_scanned = id;
    if (++scanned >= kMaxScannedPerRead) {
      it->Next();
      stopped = it->Valid();
      break;
    }
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "reading the id index");

  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(slices.size());
  std::vector<rocksdb::Status> statuses(slices.size());
  rocksdb::ReadOptions get_ro;
  get_ro.snapshot = snap;
  if (!slices.empty()) {
    db_->MultiGet(get_ro, cf_events_, slices.size(), slices.data(), values.data(),
                  statuses.data(), /*sorted_input=*/false);
  }
  result->events.reserve(slices.size());
  for (size_t i = 0; i < slices.size(); ++i) {
    if (!statuses[i].ok()) return FromRocksDb(statuses[i], "reading events");
    std::string_view topic;
    uint64_t id = 0;
    internal::ParseEventKey(keys[i], &topic, &id);
    internal::EventValue v;
    if (!internal::DecodeEventValue(ToView(values[i]), &v)) {
      return absl::DataLossError(absl::StrCat("event ", id, " is malformed"));
    }
    Event& e = result->events.emplace_back();
    e.id = id;
    e.topic.assign(topic);
    e.type.assign(v.type);
    e.data.assign(v.data);
    e.publish_time = absl::FromUnixMicros(v.publish_micros);
  }
  if (stopped) {
    result->next_after_id = last_scanned;
  } else {
    result->reached_end = true;
    result->next_after_id = bound;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> RocksDbLog::CursorAtTime(absl::Time t) {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  const uint64_t wm = Watermark();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_time_));
  // The time index is ordered by (publish time, id); the entry just before
  // (t, 0) is the latest event published before t.
  it->Seek(internal::TimeKey(ToMicros(t), 0));
  if (it->Valid()) {
    it->Prev();
  } else if (it->status().ok()) {
    it->SeekToLast();
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "reading the time index");
  if (!it->Valid()) return uint64_t{0};
  int64_t micros = 0;
  uint64_t id = 0;
  if (!internal::ParseTimeKey(ToView(it->key()), &micros, &id)) {
    return absl::DataLossError("time index holds a malformed key");
  }
  return std::min(id, wm);
}

absl::StatusOr<uint64_t> RocksDbLog::EarliestCursor(const TopicFilter& filter) {
  const uint64_t wm = Watermark();
  std::vector<std::pair<std::string, TopicMeta>> matched;
  bool trimmed = false;
  MatchTopics(filter, 0, &matched, &trimmed);
  uint64_t cursor = wm;
  const absl::Time now = hooks_.clock();
  for (const auto& [topic, m] : matched) {
    if (m.count == 0) continue;
    uint64_t first = m.first_id - 1;
    // Skip what is past the topic's age limit but not yet deleted, so that
    // "everything retained" does not start with a `trimmed` reset.
    if (const int64_t cutoff = ExpiryCutoff(topic, now);
        cutoff != std::numeric_limits<int64_t>::min()) {
      absl::StatusOr<uint64_t> at = CursorAtTime(absl::FromUnixMicros(cutoff));
      if (!at.ok()) return at.status();
      first = std::max(first, std::min(*at, m.last_id));
    }
    cursor = std::min(cursor, first);
  }
  return cursor;
}

absl::StatusOr<uint64_t> RocksDbLog::CursorBeforeLast(const TopicFilter& filter, size_t n,
                                                      uint64_t up_to_id) {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  const uint64_t wm = Watermark();
  const uint64_t bound = up_to_id == 0 ? wm : std::min(up_to_id, wm);
  std::vector<std::pair<std::string, TopicMeta>> matched;
  bool trimmed = false;
  MatchTopics(filter, 0, &matched, &trimmed);
  std::vector<std::string> topics;
  for (auto& [topic, m] : matched) {
    if (m.count > 0 && m.first_id <= bound) topics.push_back(std::move(topic));
  }
  if (topics.empty() || n == 0) return bound;
  rocksdb::ManagedSnapshot snap(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.snapshot();
  uint64_t oldest = bound + 1;  // The oldest id taken so far.
  size_t taken = 0;
  if (topics.size() <= kMaxMergeTopics) {
    // One reverse iterator per topic, merged newest first: n keys are read
    // (plus one per topic), values never.
    struct Back {
      std::string lower;
      rocksdb::Slice lower_slice;
      std::unique_ptr<rocksdb::Iterator> it;
      uint64_t id = 0;
    };
    std::vector<std::unique_ptr<Back>> backs;
    auto cmp = [](const Back* a, const Back* b) { return a->id < b->id; };
    std::priority_queue<Back*, std::vector<Back*>, decltype(cmp)> heap(cmp);
    auto load = [&](Back* b) -> absl::Status {
      if (!b->it->Valid()) {
        return b->it->status().ok() ? absl::OkStatus()
                                    : FromRocksDb(b->it->status(), "reading events");
      }
      std::string_view key = ToView(b->it->key());
      b->id = internal::GetBigEndian64(key.data() + key.size() - 8);
      heap.push(b);
      return absl::OkStatus();
    };
    for (const std::string& topic : topics) {
      auto b = std::make_unique<Back>();
      b->lower = internal::EventKeyPrefix(topic);
      b->lower_slice = b->lower;
      rocksdb::ReadOptions bro = ro;
      bro.iterate_lower_bound = &b->lower_slice;
      b->it.reset(db_->NewIterator(bro, cf_events_));
      b->it->SeekForPrev(internal::EventKey(topic, bound));
      if (absl::Status s = load(b.get()); !s.ok()) return s;
      backs.push_back(std::move(b));
    }
    while (taken < n && !heap.empty()) {
      Back* b = heap.top();
      heap.pop();
      oldest = b->id;
      ++taken;
      b->it->Prev();
      if (absl::Status s = load(b); !s.ok()) return s;
    }
  } else {
    // Many topics: the id-ordered index, backwards, skipping other topics.
    absl::flat_hash_set<std::string_view> wanted(topics.begin(), topics.end());
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_ids_));
    for (it->SeekForPrev(internal::IdKey(bound)); it->Valid() && taken < n; it->Prev()) {
      const uint64_t id = internal::IdFromIdKey(ToView(it->key()));
      internal::IdValue v;
      if (!internal::DecodeIdValue(ToView(it->value()), &v)) {
        return absl::DataLossError(absl::StrCat("id index entry ", id, " is malformed"));
      }
      if (!wanted.contains(v.topic)) continue;
      oldest = id;
      ++taken;
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), "reading the id index");
  }
  return taken == 0 ? bound : oldest - 1;
}

absl::StatusOr<std::vector<TopicInfo>> RocksDbLog::ListTopics(const TopicFilter& filter) {
  std::vector<std::pair<std::string, TopicMeta>> matched;
  bool trimmed = false;
  MatchTopics(filter, 0, &matched, &trimmed);
  std::sort(matched.begin(), matched.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<TopicInfo> out;
  out.reserve(matched.size());
  for (auto& [topic, m] : matched) {
    out.push_back(TopicInfo{std::move(topic), m.first_id, m.last_id, m.count, m.bytes});
  }
  return out;
}

absl::StatusOr<LogStats> RocksDbLog::Stats() {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  LogStats stats;
  stats.watermark = Watermark();
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    stats.events = total_events_;
    stats.bytes = total_bytes_;
    for (const auto& [topic, m] : topics_) {
      if (!m.deleted) stats.topics++;
    }
  }
  for (rocksdb::ColumnFamilyHandle* cf : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(cf, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) {
      stats.disk_bytes += v;
    }
  }
  rocksdb::VectorLogPtr wals;
  if (db_->GetSortedWalFiles(wals).ok()) {
    for (const auto& w : wals) stats.disk_bytes += w->SizeFileBytes();
  }
  return stats;
}

absl::Status RocksDbLog::Checkpoint(const std::string& dir) {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return FromRocksDb(s, "creating checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  if (absl::Status st =
          FromRocksDb(cp->CreateCheckpoint(dir), absl::StrCat("writing checkpoint to ", dir));
      !st.ok()) {
    return st;
  }
  // Read by ContinueIdsAfterRestore when the checkpoint is opened.
  const std::string marker = internal::RestoreMarkerPath(dir);
  FILE* f = std::fopen(marker.c_str(), "w");
  if (f == nullptr) {
    return absl::InternalError(
        absl::StrCat("writing ", marker, ": ", std::strerror(errno)));
  }
  const bool written =
      std::fputs("A tailgate checkpoint: opened as a log, its ids continue from the current time "
                 "in microseconds, above any id the log it was taken from handed out.\n",
                 f) >= 0;
  if (std::fclose(f) != 0 || !written) {
    return absl::InternalError(absl::StrCat("writing ", marker, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Retention, trim, delete

absl::Status RocksDbLog::TrimThroughLocked(const std::string& topic, uint64_t up_to_id,
                                           uint64_t* removed) {
  uint64_t first_id = 0;
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.count == 0) return absl::OkStatus();
    first_id = it->second.first_id;
  }
  const std::string limit = internal::EventKeyLimit(topic);
  rocksdb::Slice limit_slice(limit);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &limit_slice;
  // The iterator's implicit snapshot keeps showing what this trim plans to
  // delete; only appends (higher ids) can happen meanwhile.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_events_));
  it->Seek(internal::EventKey(topic, first_id));
  std::vector<Removed> chunk;
  uint64_t total_removed = 0;
  for (;;) {
    chunk.clear();
    uint64_t next_id = 0;
    for (; it->Valid(); it->Next()) {
      std::string_view t;
      uint64_t id = 0;
      if (!internal::ParseEventKey(ToView(it->key()), &t, &id)) {
        return absl::DataLossError("event index holds a malformed key");
      }
      if (id > up_to_id || chunk.size() >= kTrimChunk) {
        next_id = id;
        break;
      }
      internal::EventValue v;
      if (!internal::DecodeEventValue(ToView(it->value()), &v)) {
        return absl::DataLossError(absl::StrCat("event ", id, " is malformed"));
      }
      chunk.push_back(Removed{id, v.publish_micros, v.data.size()});
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), "reading events to trim");
    if (chunk.empty()) break;

    absl::Status s = RunOnCommitter([&]() -> absl::Status {
      rocksdb::WriteBatch batch;
      batch.DeleteRange(cf_events_, internal::EventKey(topic, chunk.front().id),
                        internal::EventKey(topic, chunk.back().id + 1));
      uint64_t bytes = 0;
      for (const Removed& r : chunk) {
        batch.Delete(cf_ids_, internal::IdKey(r.id));
        // Only the last event of a run with one publish time has an entry
        // (see CommitAppends); deleting the others' keys costs a tombstone.
        batch.Delete(cf_time_, internal::TimeKey(r.micros, r.id));
        bytes += r.bytes;
      }
      TopicMeta m;
      {
        absl::ReaderMutexLock lock(&meta_mu_);
        m = topics_.at(topic);
      }
      const TopicMeta before = m;
      m.count -= chunk.size();
      m.bytes -= bytes;
      m.trimmed_through = std::max(m.trimmed_through, chunk.back().id);
      if (m.count == 0) {
        m.first_id = 0;
      } else if (next_id != 0) {
        m.first_id = next_id;
      } else {
        // The plan saw no later event, yet appends added some since: the
        // first of those is the new first id.
        std::unique_ptr<rocksdb::Iterator> f(db_->NewIterator(ro, cf_events_));
        f->Seek(internal::EventKey(topic, chunk.back().id + 1));
        std::string_view t;
        uint64_t id = 0;
        if (f->Valid() && internal::ParseEventKey(ToView(f->key()), &t, &id)) m.first_id = id;
      }
      batch.Put(cf_meta_, internal::TopicMetaKey(topic), internal::EncodeTopicMeta(m));
      RaiseRemovedThrough(chunk.back().id);
      if (absl::Status w = WriteBatch(&batch); !w.ok()) return w;
      absl::MutexLock lock(&meta_mu_);
      topics_[topic] = m;
      total_events_ -= before.count - m.count;
      total_bytes_ -= before.bytes - m.bytes;
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    total_removed += chunk.size();
    if (next_id == 0 || next_id > up_to_id) break;
  }
  *removed += total_removed;
  if (total_removed >= kCompactAfterRemoved) {
    pending_compactions_.push_back(
        {cf_events_, internal::EventKeyPrefix(topic), internal::EventKey(topic, up_to_id)});
  }
  return absl::OkStatus();
}

absl::Status RocksDbLog::ExpireDedupLocked(int64_t cutoff_micros) {
  const std::string upper = internal::DedupTimeKey(cutoff_micros, "");
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_dedup_time_));
  it->SeekToFirst();
  while (it->Valid()) {
    std::vector<std::string> time_keys;
    for (; it->Valid() && time_keys.size() < kTrimChunk; it->Next()) {
      time_keys.emplace_back(ToView(it->key()));
    }
    if (!it->status().ok()) break;
    absl::Status s = RunOnCommitter([&]() -> absl::Status {
      // Re-checked here, on the only writer: a key appended again since the
      // plan was made has a fresh record that must stay.
      std::vector<std::string> keys;
      rocksdb::WriteBatch batch;
      for (const std::string& tk : time_keys) {
        int64_t micros = 0;
        std::string_view dk;
        if (internal::ParseDedupTimeKey(tk, &micros, &dk)) keys.emplace_back(dk);
        batch.Delete(cf_dedup_time_, tk);
      }
      std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
      std::vector<rocksdb::PinnableSlice> values(slices.size());
      std::vector<rocksdb::Status> statuses(slices.size());
      db_->MultiGet(rocksdb::ReadOptions(), cf_dedup_, slices.size(), slices.data(),
                    values.data(), statuses.data());
      for (size_t i = 0; i < slices.size(); ++i) {
        internal::DedupValue v;
        if (statuses[i].ok() && internal::DecodeDedupValue(ToView(values[i]), &v) &&
            v.seen_micros < cutoff_micros) {
          batch.Delete(cf_dedup_, slices[i]);
        }
      }
      return WriteBatch(&batch);
    });
    if (!s.ok()) return s;
  }
  return FromRocksDb(it->status(), "reading idempotency keys to expire");
}

absl::Status RocksDbLog::EnforceRetention() {
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  return EnforceRetentionLocked();
}

absl::Status RocksDbLog::EnforceRetentionLocked() {
  const absl::Time now = hooks_.clock();
  if (absl::Status s = ExpireDedupLocked(ToMicros(now - options_.dedup_window)); !s.ok()) {
    return s;
  }

  std::vector<std::pair<std::string, TopicMeta>> topics;
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    for (const auto& [topic, m] : topics_) {
      if (!m.deleted && m.count > 0) topics.emplace_back(topic, m);
    }
  }
  uint64_t removed = 0;
  uint64_t max_removed_id = 0;
  for (const auto& [topic, m] : topics) {
    const RetentionRule& rule = rules_.For(topic);
    const uint64_t over = rule.max_events > 0 && m.count > rule.max_events
                              ? m.count - rule.max_events
                              : 0;
    const bool by_age = rule.max_age > absl::ZeroDuration();
    if (over == 0 && !by_age) continue;
    const int64_t cutoff = by_age ? ToMicros(now - rule.max_age) : 0;
    // Both limits remove a prefix of the topic: the first `over` events and
    // the leading events older than the cutoff. Trim through the longer one.
    const std::string limit = internal::EventKeyLimit(topic);
    rocksdb::Slice limit_slice(limit);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &limit_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_events_));
    uint64_t up_to = 0;
    uint64_t n = 0;
    for (it->Seek(internal::EventKey(topic, m.first_id)); it->Valid(); it->Next(), ++n) {
      std::string_view t;
      uint64_t id = 0;
      internal::EventValue v;
      if (!internal::ParseEventKey(ToView(it->key()), &t, &id) ||
          !internal::DecodeEventValue(ToView(it->value()), &v)) {
        return absl::DataLossError(absl::StrCat("event of topic \"", topic, "\" is malformed"));
      }
      if (n >= over && !(by_age && v.publish_micros < cutoff)) break;
      up_to = id;
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), "reading events for retention");
    if (up_to == 0) continue;
    if (absl::Status s = TrimThroughLocked(topic, up_to, &removed); !s.ok()) return s;
    max_removed_id = std::max(max_removed_id, up_to);
  }

  uint64_t total_bytes = 0;
  uint64_t min_first = std::numeric_limits<uint64_t>::max();
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    total_bytes = total_bytes_;
    for (const auto& [topic, m] : topics_) {
      if (!m.deleted && m.count > 0) min_first = std::min(min_first, m.first_id);
    }
  }
  if (options_.max_total_bytes > 0 && total_bytes > options_.max_total_bytes) {
    // Oldest first across topics: walk the id index and trim each topic
    // through its last event inside the excess.
    const uint64_t excess = total_bytes - options_.max_total_bytes;
    std::map<std::string, uint64_t> through;
    uint64_t freed = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_ids_));
    for (it->Seek(internal::IdKey(min_first)); it->Valid() && freed < excess; it->Next()) {
      internal::IdValue v;
      if (!internal::DecodeIdValue(ToView(it->value()), &v)) {
        return absl::DataLossError("id index entry is malformed");
      }
      through[std::string(v.topic)] = internal::IdFromIdKey(ToView(it->key()));
      freed += v.data_bytes;
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), "reading the id index");
    for (const auto& [topic, up_to] : through) {
      if (absl::Status s = TrimThroughLocked(topic, up_to, &removed); !s.ok()) return s;
      max_removed_id = std::max(max_removed_id, up_to);
    }
  }
  if (removed >= kCompactAfterRemoved) {
    pending_compactions_.push_back({cf_ids_, "", internal::IdKey(max_removed_id)});
    pending_compactions_.push_back({cf_time_, "", internal::TimeKey(ToMicros(now), 0)});
  }
  return absl::OkStatus();
}

absl::Status RocksDbLog::TrimTopic(std::string_view topic, uint64_t up_to_id) {
  if (absl::Status s = ValidateTopic(topic); !s.ok()) return s;
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.deleted) {
      return absl::NotFoundError(absl::StrCat("topic \"", AV(topic), "\" does not exist"));
    }
  }
  uint64_t removed = 0;
  return TrimThroughLocked(std::string(topic), std::min(up_to_id, Watermark()), &removed);
}

absl::Status RocksDbLog::DeleteTopic(std::string_view topic_view) {
  if (absl::Status s = ValidateTopic(topic_view); !s.ok()) return s;
  const std::string topic(topic_view);
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.deleted) {
      return absl::NotFoundError(absl::StrCat("topic \"", AV(topic), "\" does not exist"));
    }
  }
  uint64_t removed = 0;
  if (absl::Status s = TrimThroughLocked(topic, std::numeric_limits<uint64_t>::max() - 1, &removed);
      !s.ok()) {
    return s;
  }
  pending_compactions_.push_back(
      {cf_events_, internal::EventKeyPrefix(topic), internal::EventKeyLimit(topic)});
  // Only the tombstone stays: it remembers how far the topic was removed so
  // that readers resuming from an old cursor learn their history is gone.
  return RunOnCommitter([&]() -> absl::Status {
    TopicMeta m;
    {
      absl::ReaderMutexLock lock(&meta_mu_);
      m = topics_.at(topic);
    }
    if (m.count > 0) return absl::OkStatus();  // appended to after the delete
    m.deleted = true;
    m.first_id = 0;
    m.trimmed_through = std::max(m.trimmed_through, m.last_id);
    rocksdb::WriteBatch batch;
    batch.Put(cf_meta_, internal::TopicMetaKey(topic), internal::EncodeTopicMeta(m));
    if (absl::Status w = WriteBatch(&batch); !w.ok()) return w;
    absl::MutexLock lock(&meta_mu_);
    topics_[topic] = m;
    return absl::OkStatus();
  });
}

void RocksDbLog::RunPendingCompactions() {
  std::vector<CompactRange> ranges;
  {
    absl::MutexLock maint(&maint_mu_);
    ranges.swap(pending_compactions_);
  }
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return;
  for (const CompactRange& r : ranges) {
    if (cancel_compaction_.load()) return;
    rocksdb::CompactRangeOptions o;
    o.canceled = &cancel_compaction_;
    rocksdb::Slice begin(r.begin);
    rocksdb::Slice end(r.end);
    // Best effort: RocksDB compacts these ranges eventually anyway.
    db_->CompactRange(o, r.cf, r.begin.empty() ? nullptr : &begin, r.end.empty() ? nullptr : &end)
        .PermitUncheckedError();
  }
}

void RocksDbLog::RetentionLoop() {
  absl::Time next_retention = absl::Now() + options_.retention_interval;
  for (;;) {
    {
      absl::MutexLock lock(&retention_mu_);
      // While suspended, wake often enough to notice freed space quickly.
      const absl::Duration wait =
          suspended_.load(std::memory_order_acquire)
              ? std::min(kRecoveryPoll, next_retention - absl::Now())
              : next_retention - absl::Now();
      retention_mu_.AwaitWithTimeout(
          absl::Condition(
              +[](bool* stop) { return *stop; }, &stop_retention_),
          wait);
      if (stop_retention_) return;
    }
    if (suspended_.load(std::memory_order_acquire)) {
      TryRecover();
      // Retention writes too; it waits until writes work again.
      if (suspended_.load(std::memory_order_acquire)) continue;
    }
    if (absl::Now() < next_retention) continue;
    next_retention = absl::Now() + options_.retention_interval;
    // Errors here surface again on the next pass or in Stats; the loop must
    // keep running for retention to ever catch up.
    EnforceRetention().IgnoreError();
    RunPendingCompactions();
  }
}

// ---------------------------------------------------------------------------
// Close

void RocksDbLog::Close() {
  absl::MutexLock close_lock(&close_mu_);
  if (closed_) return;
  closed_ = true;
  {
    absl::MutexLock lock(&queue_mu_);
    // New appends fail fast; those already queued still commit.
    accepting_ = false;
  }
  if (retention_.joinable()) {
    {
      absl::MutexLock lock(&retention_mu_);
      stop_retention_ = true;
    }
    cancel_compaction_.store(true);
    retention_.join();
  }
  if (committer_.joinable()) {
    {
      absl::MutexLock lock(&queue_mu_);
      stop_committer_ = true;
    }
    committer_.join();
  }

  absl::MutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return;
  if (options_.durability == Durability::kNone) {
    // Without a WAL only flushed memtables survive.
    db_->Flush(rocksdb::FlushOptions(), handles_).PermitUncheckedError();
  } else if (options_.durability == Durability::kWal) {
    db_->FlushWAL(/*sync=*/true).PermitUncheckedError();
  }
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  handles_.clear();
  db_->Close().PermitUncheckedError();
  db_.reset();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Log>> OpenRocksDbLogWithHooks(const Options& options,
                                                             RocksDbLogHooks hooks) {
  auto log = std::make_unique<RocksDbLog>(options, std::move(hooks));
  if (absl::Status s = log->Open(); !s.ok()) return s;
  return std::unique_ptr<Log>(std::move(log));
}

absl::StatusOr<std::unique_ptr<Log>> OpenRocksDbLog(const Options& options) {
  return OpenRocksDbLogWithHooks(options, RocksDbLogHooks());
}

}  // namespace tailgate::store

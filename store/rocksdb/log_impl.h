// The RocksDB log's class, RocksDbLog, and the constants its parts share.
// Its methods are defined by job: store/rocksdb_log.cc (open, load, close),
// store/rocksdb/committer.cc (append queue and group commit), dedup.cc
// (idempotency keys), reader.cc (reads and cursors), retention.cc
// (retention, trim, delete), checkpoint.cc (online copies and restores).
// Internal to store/.
#ifndef TAILGATE_STORE_ROCKSDB_LOG_IMPL_H_
#define TAILGATE_STORE_ROCKSDB_LOG_IMPL_H_

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
#include "store/rocksdb/codec.h"
#include "store/internal/commit_listeners.h"
#include "store/internal/background_loop.h"
#include "store/internal/log_common.h"
#include "store/internal/retention.h"
#include "store/rocksdb/diagnostics.h"

namespace tailgate::store::internal {

// Debian's Abseil is built without the std::string_view alias.


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
inline absl::Status DiskFullError() {
  return absl::UnavailableError(
      "the event log's disk is full: publishing resumes by itself once space is freed");
}

inline int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

inline rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
inline std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

inline bool DirExists(const std::string& path, bool* is_dir) {
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
  // One group commit, in steps: look up the group's idempotency keys, stage
  // each append's events in one write batch, write it, then publish the
  // topic metadata and acknowledge.
  void CommitAppends(std::vector<AppendOp>& ops);
  // What a group commit has staged so far.
  struct StagedCommit {
    explicit StagedCommit(size_t batch_bytes) : batch(batch_bytes) {}
    // Ends the current run of events sharing one publish time: the time
    // index needs only its last id, since CursorAtTime wants the greatest
    // (time, id) below a time and a commit's events mostly share the
    // commit's clock reading (about one entry per commit, not per event).
    void EndTimeRun(rocksdb::ColumnFamilyHandle* cf_time) {
      if (time_run) batch.Put(cf_time, internal::TimeKey(time_run->first, time_run->second), rocksdb::Slice());
    }
    rocksdb::WriteBatch batch;
    std::map<std::string, TopicMeta, std::less<>> touched;
    std::vector<Event> committed;
    uint64_t next = 0;  // the next id to hand out
    std::optional<std::pair<int64_t, uint64_t>> time_run;  // (micros, last id)
    std::string value;  // reused encoding buffer
  };
  static size_t CommitBatchBytes(const std::vector<AppendOp>& ops);
  // The group's stored idempotency keys still inside the window (after
  // cutoff_micros) into *seen; INTERNAL when they cannot be read.
  absl::Status LookUpKeys(const std::vector<AppendOp>& ops, int64_t cutoff_micros,
                          absl::flat_hash_map<std::string, DedupEntry>* seen);
  void StageAppend(AppendOp& op, int64_t now_micros,
                   absl::flat_hash_map<std::string, DedupEntry>* seen, StagedCommit* c,
                   std::vector<AppendResult>* results);
  // Writes the staged commit with its topic metadata and last id; what its
  // publishers are told when that fails.
  absl::Status WriteCommit(StagedCommit* c, uint64_t last);
  // Commit-thread only: the committed topics' metadata becomes visible.
  void PublishTopicMeta(const std::map<std::string, TopicMeta, std::less<>>& touched);
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

  // One turn of the background loop: recovery while suspended, retention
  // every retention_interval. Returns how long to sleep.
  absl::Duration RetentionStep();
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
  std::optional<RetentionPlanner> planner_;  // set by Open
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

  // Retention and disk-full recovery; next_retention_ is its own.
  std::unique_ptr<BackgroundLoop> retention_;
  absl::Time next_retention_;
  std::atomic<bool> cancel_compaction_{false};

  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;
};

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_ROCKSDB_LOG_IMPL_H_

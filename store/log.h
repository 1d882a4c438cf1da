// The replay log: a durable, ordered, multi-topic event log.
//
// This header is the only part of store/ that the rest of tailgate includes.
// It names no storage engine, so the log can also be implemented on a
// distributed log (e.g. NATS JetStream: one stream, a subject per topic, stream
// sequence = event id).
//
// Ids are one global, strictly increasing uint64 sequence over all topics,
// assigned at commit and never reused. A new RocksDB log's ids start just
// above the time its data dir was created, in microseconds (below 2^53, so
// exact in JavaScript), so that a wiped or lost log's ids are never handed
// out again (Options::first_id_from_clock); JetStream's start at 1 with the
// stream. Id 0 means "before the first event".
//
// Thread-safety: every method may be called concurrently from any thread.
// Append callbacks and commit listeners run on the log's committer thread and
// must not block. Read, IdAtTime, ListTopics, TrimTopic and DeleteTopic may do
// disk I/O: never call them on an event-loop thread.
#ifndef TAILGATE_STORE_LOG_H_
#define TAILGATE_STORE_LOG_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "store/topic.h"

namespace tailgate::store {

// What an acknowledged append survives.
enum class Durability {
  kFsync,  // WAL synced before the ack: survives process crash and power loss.
  kWal,    // WAL written, not synced: survives a process crash, not power loss.
  kNone,   // No WAL: survives only a clean close. For benchmarks.
};

// Parses "fsync" | "wal" | "none".
absl::StatusOr<Durability> ParseDurability(std::string_view text);
std::string_view DurabilityName(Durability d);

// Diagnostics from the storage engine (RocksDB's "info log"), for the
// embedding program's own logger.
enum class DiagnosticSeverity { kInfo, kWarning, kError };
using DiagnosticSink = std::function<void(DiagnosticSeverity, std::string_view line)>;

// A retention rule; a zero limit means "no limit of that kind".
struct RetentionRule {
  // Topics the rule applies to, e.g. "orders.>". The first matching rule of
  // Options::retention_rules wins; topics matching none use default_retention.
  std::string pattern;
  uint64_t max_events = 0;
  absl::Duration max_age = absl::ZeroDuration();
};

struct Options {
  std::string data_dir;
  Durability durability = Durability::kFsync;
  // A new RocksDB log's first id is the creation time in microseconds + 1,
  // not 1: a log that replaces a lost or wiped one never hands out an id a
  // client may still hold (it gets `unknown_id` instead of silently resuming
  // after it). Off only where nothing can hold an old id (unit tests).
  bool first_id_from_clock = true;
  // Largest data field accepted by Append.
  size_t max_data_bytes = kDefaultMaxDataBytes;
  // Idempotency keys are remembered this long (also across restarts).
  absl::Duration dedup_window = absl::Minutes(10);
  // Per-topic limits for topics no rule matches.
  RetentionRule default_retention{">", 1'000'000, absl::Hours(24 * 7)};
  std::vector<RetentionRule> retention_rules;
  // Global cap on stored event bytes; the oldest events (any topic) go first.
  uint64_t max_total_bytes = uint64_t{10} << 30;
  // How often retention runs in the background.
  absl::Duration retention_interval = absl::Seconds(10);
  // Events gathered into one commit at most (group commit) ...
  size_t max_commit_events = 4096;
  // ... and their data bytes (at least one append): each commit is copied
  // whole into a write batch and into the commit listeners' frames, so this
  // bounds that memory, whatever the appenders queue.
  size_t max_commit_bytes = size_t{16} << 20;
  // Observability hooks (e.g. metrics), run on the committer thread: they
  // must be cheap and never block. commit_observer gets each successful
  // commit's stored events (duplicates excluded) and how long its write took
  // (the WAL sync included); commit_error_observer gets a failed write.
  std::function<void(size_t events, absl::Duration latency)> commit_observer;
  std::function<void(const absl::Status& error)> commit_error_observer;
  // The storage engine's warnings and errors (RocksDB only; it writes no LOG
  // file in data_dir). Called from the engine's threads: thread-safe, never
  // blocking. Unset: they go to stderr.
  DiagnosticSink diagnostics;
};

// One event to append. publish_time defaults to the commit time when unset.
struct EventInput {
  std::string topic;
  std::string type;
  std::string data;
  std::string idempotency_key;
  absl::Time publish_time = absl::InfinitePast();
};

struct AppendResult {
  uint64_t id = 0;
  bool duplicate = false;  // An earlier append with the same (topic, key) owns `id`.
};

// A committed event. Immutable once committed.
struct Event {
  uint64_t id = 0;
  std::string topic;
  std::string type;
  std::string data;
  absl::Time publish_time;
};

struct ReadRequest {
  TopicFilter filter;
  uint64_t after_id = 0;      // Return events with id > after_id ...
  uint64_t up_to_id = 0;      // ... and id <= up_to_id (0 = the watermark).
  size_t max_events = 1024;   // Stop after this many events ...
  size_t max_bytes = 1 << 20; // ... or once this many data+topic bytes are returned
                              // (at least one event is always returned if any).
};

struct ReadResult {
  std::vector<Event> events;  // Matching events, ascending id.
  // Resume the next read with after_id = next_after_id. May exceed the last
  // returned id when non-matching ids were skipped.
  uint64_t next_after_id = 0;
  // True when every matching event up to the bound was returned.
  bool reached_end = false;
  // True when retention already removed matching events with id > after_id:
  // the caller asked for history that is gone.
  bool trimmed = false;
};

struct TopicInfo {
  std::string topic;
  uint64_t first_id = 0;  // First retained id (0 when none retained).
  uint64_t last_id = 0;   // Last id ever appended to the topic.
  uint64_t count = 0;     // Retained events.
  uint64_t bytes = 0;     // Retained data bytes.
};

struct LogStats {
  uint64_t watermark = 0;
  uint64_t events = 0;       // Retained events, all topics.
  uint64_t bytes = 0;        // Retained data bytes, all topics.
  uint64_t topics = 0;
  uint64_t disk_bytes = 0;   // Files on disk (approximate).
};

class Log {
 public:
  // Called with the committed events of one commit, ascending and gap-free
  // above the previous watermark, and the new watermark.
  using CommitListener =
      std::function<void(absl::Span<const Event> committed, uint64_t watermark)>;
  using AppendCallback =
      std::function<void(absl::StatusOr<std::vector<AppendResult>> results)>;

  virtual ~Log() = default;
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends events atomically (all or none, consecutive ids for the new
  // ones). `done` runs once on the committer thread after the commit is
  // durable per Options::durability, or with an error: INVALID_ARGUMENT /
  // RESOURCE_EXHAUSTED for a bad event (nothing stored), UNAVAILABLE after
  // Close, INTERNAL on a storage failure.
  virtual void AppendAsync(std::vector<EventInput> events, AppendCallback done) = 0;

  // Blocking convenience over AppendAsync.
  absl::StatusOr<std::vector<AppendResult>> Append(std::vector<EventInput> events);

  // Highest id such that it and every lower id are committed.
  virtual uint64_t Watermark() const = 0;

  // Highest id ever assigned (>= Watermark()), as far as this process knows:
  // on a log shared by several processes (JetStream), ids assigned through
  // another one count once this process has followed them.
  virtual uint64_t LastAssignedId() const = 0;

  // Ids 1..IdsStartAfter() were never issued by this log: a new RocksDB log
  // starts above its creation time (Options::first_id_from_clock). An id
  // there comes from a lost or replaced log. 0 for JetStream.
  virtual uint64_t IdsStartAfter() const { return 0; }

  // Whether `id` was ever assigned, asking the storage when LastAssignedId()
  // does not cover it (another process may have assigned it). May block: call
  // it off event loops. UNAVAILABLE when the storage cannot be asked.
  virtual absl::StatusOr<bool> IdAssigned(uint64_t id) { return id <= LastAssignedId(); }

  // Registers a listener; returns a handle for RemoveCommitListener.
  // Listeners run on the committer thread, in commit order.
  virtual uint64_t AddCommitListener(CommitListener listener) = 0;
  virtual void RemoveCommitListener(uint64_t handle) = 0;

  // Blocking read by cursor (see ReadRequest). Never returns ids above the
  // watermark.
  virtual absl::StatusOr<ReadResult> Read(const ReadRequest& request) = 0;

  // The cursor to read "from time t": the largest id whose event was
  // published before t (so Read(after_id = result) starts at the first event
  // published at or after t).
  virtual absl::StatusOr<uint64_t> CursorAtTime(absl::Time t) = 0;

  // The cursor to read all retained history of the filter's topics.
  virtual absl::StatusOr<uint64_t> EarliestCursor(const TopicFilter& filter) = 0;

  // The cursor to read "the latest n matching events up to up_to_id" (0 =
  // the watermark): one below the n-th matching event counted back from
  // up_to_id, or below the oldest retained one when fewer match; the bound
  // itself when none does. Works backwards from the bound, so its cost grows
  // with n (and with the non-matching events in between for broad filters
  // over many topics), never with the whole history. May block.
  virtual absl::StatusOr<uint64_t> CursorBeforeLast(const TopicFilter& filter, size_t n,
                                                    uint64_t up_to_id) = 0;

  virtual absl::StatusOr<std::vector<TopicInfo>> ListTopics(const TopicFilter& filter) = 0;

  // The highest id that TrimTopic, DeleteTopic or retention has removed
  // from any topic since the log was opened (0: nothing, or unknown).
  // Readers that keep events in memory (the gateway's tail cache) must not
  // serve ids at or below it without asking Read, which reports `trimmed`.
  // Raised before the removal is written. Cheap, non-blocking.
  virtual uint64_t RemovedThrough() const { return 0; }

  // The smallest age limit of any retention rule (infinite: none). An event
  // published longer ago than that may be past its topic's age limit and no
  // longer served, even before retention deletes it: in-memory copies of
  // such events must be checked against Read. Cheap, non-blocking.
  virtual absl::Duration ShortestMaxAge() const { return absl::InfiniteDuration(); }

  // Removes the topic's events with id <= up_to_id.
  virtual absl::Status TrimTopic(std::string_view topic, uint64_t up_to_id) = 0;
  // Removes all of the topic's events and metadata (ids stay unused).
  virtual absl::Status DeleteTopic(std::string_view topic) = 0;

  // Runs one retention pass now (it also runs every retention_interval).
  virtual absl::Status EnforceRetention() = 0;

  // Writes a consistent online copy of the log to `dir` (must not exist).
  virtual absl::Status Checkpoint(const std::string& dir) = 0;

  virtual absl::StatusOr<LogStats> Stats() = 0;

  // OK while appends can succeed; otherwise UNAVAILABLE saying why: the
  // JetStream log while its NATS connection is down and reconnecting, the
  // RocksDB log while its disk is full (appends are refused at once until it
  // recovers by itself). Cheap, non-blocking: readiness checks call it.
  virtual absl::Status Health() const { return absl::OkStatus(); }

  // Stops accepting appends (UNAVAILABLE), completes those already accepted,
  // and stops background work. Idempotent; the destructor calls it.
  virtual void Close() = 0;

 protected:
  Log() = default;
};

// Where a JetStream-backed log lives. NATS types stay out of this header.
struct JetStreamOptions {
  // NATS server URL(s), comma-separated, e.g. "nats://10.0.0.1:4222,nats://10.0.0.2:4222".
  std::string url;
  // The stream holding every topic; created (or updated to these settings)
  // on open.
  std::string stream = "TAILGATE";
  // Topic t is stored under subject "<subject_prefix>.<t>"; the stream owns
  // "<subject_prefix>.>".
  std::string subject_prefix = "tailgate";
  // Stream replicas (R3 in a 3-node cluster).
  int replicas = 1;
  absl::Duration connect_timeout = absl::Seconds(5);
  // An append JetStream has not acknowledged after this long fails with
  // UNAVAILABLE (it may or may not be stored: retry with an idempotency key).
  absl::Duration ack_timeout = absl::Seconds(30);
  // Reads are served from a node-local in-memory copy of the stream's newest
  // events, up to this many bytes (0: off, every read goes to JetStream):
  // what this node's ordered consumer follows, and the history before it,
  // loaded from the stream in the background at open (newest first, as much
  // as fits). The stream stays the source of truth: a read whose cursor is
  // older than the copy, or above which the stream removed anything, goes to
  // JetStream, as does every read of history while the load is running.
  size_t read_cache_bytes = size_t{256} << 20;
};

// Opens the log on a NATS JetStream stream (one stream, one subject per
// topic, stream sequence = event id), so several gateway nodes share one
// replicated log. Every node follows the whole stream with one ordered
// consumer: its watermark and commit listeners cover events appended through
// any node. options.data_dir, durability and max_commit_events do not apply
// (durability is JetStream's: replicas and the server's sync settings).
//
// Differences from the RocksDB log, all documented in jetstream_log.cc:
// - A multi-event append is NOT atomic: events are published in order on one
//   connection, so they get ascending ids (consecutive unless another node
//   publishes in between); if one fails, the earlier ones stay stored and the
//   callback reports the error with how many were stored. Retrying with
//   idempotency keys completes such a batch without duplicates.
// - Retention limits act on JetStream's store time, not on publish_time;
//   the global byte cap counts stored message bytes (headers included).
// - ReadResult::trimmed is conservative: it may also be true when only
//   events of other topics were removed above after_id; it is never false
//   when a matching event above after_id was removed.
// - TopicInfo::bytes is 0 (JetStream keeps no per-subject byte counts) and a
//   topic with no retained events is not listed.
// - Checkpoint returns UNIMPLEMENTED: back up the stream with JetStream's
//   own tools (`nats stream backup`).
// Callbacks and listeners run on NATS client threads (same rules as above).
// Connection failures: UNAVAILABLE with the reason.
absl::StatusOr<std::unique_ptr<Log>> OpenJetStreamLog(const Options& options,
                                                      const JetStreamOptions& js);

// Opens (creating if needed) the RocksDB-backed log in options.data_dir.
// A data dir that is not a tailgate log, or is corrupt, gets FAILED_PRECONDITION
// / DATA_LOSS with the reason; a dir locked by another process, UNAVAILABLE.
absl::StatusOr<std::unique_ptr<Log>> OpenRocksDbLog(const Options& options);

}  // namespace tailgate::store

#endif  // TAILGATE_STORE_LOG_H_

// Log on NATS JetStream.
//
// Mapping: one stream owns "<prefix>.>"; topic t is subject "<prefix>.<t>";
// the stream sequence is the event id (JetStream never reuses a sequence, not
// even after a purge, so ids stay unique); type and an explicit publish time
// travel in headers (Tailgate-Type, Tailgate-Time in Unix nanoseconds; without
// Tailgate-Time the publish time is JetStream's store time, i.e. the commit
// time); the idempotency key becomes Nats-Msg-Id scoped to the topic, and the
// stream's duplicate window is Options::dedup_window.
//
// Threads and invariants:
// - AppendAsync validates and queues; the publisher thread publishes with
//   js_PublishMsgAsync, so many appends are in flight on one connection. The
//   events of one append are published back to back, in order.
// - Acks arrive on the NATS async-reply thread (OnAck). A completed append is
//   released once this node's watermark covers its new ids, so a caller that
//   got its ack can read its own events here (read-your-writes per node).
// - The tail thread follows the whole stream with one ordered push consumer
//   from watermark + 1. It alone advances the watermark, to the last stream
//   sequence delivered in order: the consumer delivers stored messages in
//   sequence order and skips deleted ones, so every id at or below the
//   watermark is either delivered (listeners saw it) or gone. After a
//   reconnect or a gap the client library recreates the consumer from the
//   last delivered sequence + 1; the tail also recreates it itself when the
//   subscription dies. Sequences at or below the watermark are dropped, so
//   listeners never see an event twice.
// - Reads, cursors and admin calls go straight to JetStream (direct get,
//   short-lived pull consumers, stream info/purge) under conn_mu_ held
//   shared; Close takes it exclusively to tear the connection down.
// - Except: the tail also copies what it delivers into a bounded in-memory
//   cache (JetStreamOptions::read_cache_bytes) before the watermark moves,
//   and a Read whose range the copy covers is answered from it once the
//   stream says nothing above the cursor was removed. The stream stays the
//   source of truth. At open, a thread of its own (fill_) loads the newest
//   history below the watermark into the copy, as much as fits.
// - Wildcard reads use one unfiltered consumer matched here (nats-server 2.9
//   serves wildcard-filtered consumers very slowly); a read stopped by its
//   limits parks its consumer for the next read of the same cursor.
//
// This header declares the log's class, JetStreamLog, and what its parts
// share. Its methods are defined by job: store/jetstream_log.cc (open,
// close), store/jetstream/stream.cc (stream setup and queries),
// publisher.cc (appends and acks), tail.cc (the ordered consumer),
// cache_fill.cc (loading the read cache at open), fetch.cc
// (pull-consumer reads), reader.cc (Read and topic listings), cursors.cc,
// retention.cc (retention, trim, delete). Internal to store/.
#ifndef TAILGATE_STORE_JETSTREAM_LOG_IMPL_H_
#define TAILGATE_STORE_JETSTREAM_LOG_IMPL_H_

#include "store/jetstream_log.h"
#include "store/absl_view.h"
#include "store/jetstream/nats_handles.h"
#include "store/jetstream/pull_consumer.h"
#include "store/internal/commit_listeners.h"
#include "store/jetstream/event_cache.h"
#include "store/internal/background_loop.h"
#include "store/internal/log_common.h"
#include "store/internal/retention.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tailgate::store::internal {

// Debian's Abseil is built without the std::string_view alias.

inline int64_t Nanos(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

inline constexpr char kTypeHeader[] = "Tailgate-Type";
inline constexpr char kTimeHeader[] = "Tailgate-Time";

// Largest number of patterns read with one pull consumer each (JetStream 2.9
// consumers take one filter subject) before a read falls back to one
// consumer on the whole stream with client-side matching.
inline constexpr size_t kMaxMergePatterns = 4;
// A read skips at most this many non-matching events before returning, so
// one read stays bounded even when the filter matches nothing.
inline constexpr size_t kMaxScannedPerRead = 1 << 16;
// Events a read takes by direct get before it sets up a pull consumer.
inline constexpr int kDirectGets = 8;
// How often a timeout creating a read's pull consumer is retried (see
// FetchRange).
inline constexpr int kCreateConsumerAttempts = 3;
// Messages fetched per pull request: a default 1024-event read takes one.
inline constexpr int kFetchBatch = 1025;
// Ordered consumer idle heartbeat: missed heartbeats make the client recreate
// the consumer, so this bounds how long a broken consumer goes unnoticed.
inline constexpr int64_t kTailHeartbeatNanos = 1'000'000'000;
// Beyond this many interior deletes, trimmed detection stops asking for the
// list and answers conservatively.
inline constexpr uint64_t kMaxDeletedDetails = 100'000;
// A read's consumer left for the next read is kept this long (well within
// its InactiveThreshold), and at most this many.
inline constexpr absl::Duration kParkedFor = absl::Seconds(5);
inline constexpr size_t kMaxParked = 16;
// Headroom for headers when checking an event against the server's
// max_payload.
inline constexpr size_t kHeaderSlack = 64;

// Where a message delivered by a consumer sits in the stream, from its
// JetStream metadata: false when it is not a stream message.
struct StreamPosition {
  uint64_t seq = 0;          // The stream sequence: the event id.
  int64_t store_nanos = 0;   // When the stream stored it.
  uint64_t pending = 0;      // Messages left for the consumer after it.
};
inline bool PositionOf(natsMsg* m, StreamPosition* out) {
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, m) != NATS_OK) return false;
  out->seq = meta->Sequence.Stream;
  out->store_nanos = meta->Timestamp;
  out->pending = meta->NumPending;
  jsMsgMetaData_Destroy(meta);
  return true;
}


class JetStreamLog final : public Log {
 public:
  JetStreamLog(const Options& options, const JetStreamOptions& js, JetStreamLogHooks hooks)
      : options_(options),
        jso_(js),
        hooks_(std::move(hooks)),
        prefix_(js.subject_prefix + "."),
        cache_(js.read_cache_bytes) {}
  ~JetStreamLog() override { Close(); }

  absl::Status Open();

  void AppendAsync(std::vector<EventInput> events, AppendCallback done) override;
  uint64_t Watermark() const override { return watermark_.load(std::memory_order_acquire); }
  // Never blocks: while Close holds conn_mu_ the log is not healthy anyway.
  absl::Status Health() const override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    bool ok = false;
    if (conn_mu_.ReaderTryLock()) {
      ok = !closed_ && nc_ != nullptr && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
      conn_mu_.ReaderUnlock();
    }
    return ok ? absl::OkStatus() : absl::UnavailableError("the log's storage is unreachable");
  }
  uint64_t LastAssignedId() const override {
    return std::max(Watermark(), last_assigned_.load(std::memory_order_acquire));
  }
  absl::StatusOr<bool> IdAssigned(uint64_t id) override;
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
  // Only purges made through this log count: what JetStream's own stream
  // limits remove is invisible here (Read still reports it as trimmed).
  uint64_t RemovedThrough() const override {
    return removed_through_.load(std::memory_order_acquire);
  }
  absl::Status EnforceRetention() override;
  absl::Status Checkpoint(const std::string& dir) override;
  absl::StatusOr<LogStats> Stats() override;
  void Close() override;

 private:
  // One AppendAsync call.
  struct Batch {
    std::vector<EventInput> events;
    AppendCallback done;
    std::vector<AppendResult> results;
    size_t acked = 0;        // guarded by ack_mu_
    size_t outstanding = 0;  // published, not yet acked; guarded by ack_mu_
    bool publishing = true;  // the publisher may still add messages; guarded by ack_mu_
    absl::Status error;      // guarded by ack_mu_
    uint64_t wait_for = 0;   // highest new id: released once the watermark covers it
    absl::Time published;    // when the publisher started on it
  };
  using BatchPtr = std::shared_ptr<Batch>;
  struct InFlight {
    BatchPtr batch;
    size_t index;
  };
  // One fetched range of one filter subject.
  struct Fetched {
    std::vector<Event> events;  // ascending, all <= bound
    bool exhausted = false;     // nothing more matches up to bound
    uint64_t last_seq = 0;      // highest sequence looked at
  };

  std::string Subject(std::string_view topic) const { return absl::StrCat(prefix_, AbslView(topic)); }
  bool TopicOf(const char* subject, std::string* topic) const;
  bool Decode(natsMsg* m, uint64_t seq, int64_t store_nanos, Event* e) const;
  absl::Status CheckOpen() const ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);

  absl::Status EnsureStream();
  void BuildStreamConfig(jsStreamConfig* cfg, const char** subjects, std::string* subject) const;
  // An ordered push consumer on the whole stream from start_seq, queueing at
  // most the given number of messages and bytes before the client drops
  // (and the consumer restarts from the gap).
  absl::StatusOr<natsSubscription*> SubscribeOrdered(uint64_t start_seq, int pending_msgs,
                                                     int pending_bytes);
  // The tail's: SubscribeOrdered into tail_sub_.
  absl::Status Subscribe(uint64_t start_seq);

  void PublisherLoop();
  void PublishBatch(const BatchPtr& b);
  static void AckHandler(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* self);
  void OnAck(natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae);
  // Records one message's outcome; finishes the batch when it was the last.
  void Settle(const BatchPtr& b, size_t index, const absl::Status& error, const jsPubAck* pa);
  void Release(const BatchPtr& b);
  static void Complete(const BatchPtr& b);

  void TailLoop();
  void Deliver(std::vector<MsgPtr>& msgs);
  // Loads the stream's events up to `through` (the watermark at open) into
  // the read cache, newest first as far as it has room. On its own thread.
  void FillCache(uint64_t through);

  // Reads helpers (conn_mu_ held shared).
  absl::StatusOr<StreamInfoPtr> GetInfo(const char* subjects_filter, bool deleted_details)
      ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  // The first message at or after `seq` on `subject` (wildcards allowed);
  // nullptr when none.
  absl::StatusOr<MsgPtr> NextMsg(uint64_t seq, const std::string& subject)
      ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  absl::StatusOr<MsgPtr> LastMsg(const std::string& subject) ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  // Retained messages on `subject` with sequence >= seq (a consumer's
  // pending count: the server counts, nothing is fetched).
  absl::StatusOr<uint64_t> PendingFrom(const std::string& subject, uint64_t seq)
      ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  // The largest s <= bound with at least n messages on `subject` in
  // (s, bound], never above the true one; 0 when there are fewer.
  absl::StatusOr<uint64_t> SubjectCursorBeforeLast(const std::string& subject, size_t n,
                                                   uint64_t first_seq, uint64_t bound)
      ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  // may_park: a read stopped by its limits leaves its consumer (and the
  // messages it fetched but did not return) for the next read that starts
  // right after it; only when nothing above the cursor was removed.
  absl::StatusOr<Fetched> FetchRange(const std::string& subject, uint64_t start, uint64_t bound,
                                     size_t max_events, size_t max_bytes,
                                     const TopicFilter* client_filter, bool may_park = false)
      ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  // One attempt; *resumed when it took over a parked consumer.
  absl::StatusOr<Fetched> FetchRangeOnce(const std::string& subject, uint64_t start,
                                         uint64_t bound, size_t max_events, size_t max_bytes,
                                         const TopicFilter* client_filter, bool may_park,
                                         bool* resumed) ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  // First sequence >= the stored time `t` on `subject`; 0 when none.
  absl::StatusOr<uint64_t> FirstSeqAtStoreTime(const std::string& subject, absl::Time t)
      ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  absl::StatusOr<bool> Trimmed(uint64_t after_id) ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  absl::StatusOr<std::map<std::string, uint64_t>> SubjectCounts(const TopicFilter& filter)
      ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);
  absl::Status Purge(const std::string& subject, uint64_t before_seq, uint64_t keep)
      ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);

  const Options options_;
  const JetStreamOptions jso_;
  const JetStreamLogHooks hooks_;
  const std::string prefix_;  // "<subject_prefix>."
  // The newest events the tail delivered (JetStreamOptions::read_cache_bytes):
  // appended by Deliver before the watermark covers them; Read serves from it
  // when the stream removed nothing above the cursor.
  internal::EventCache cache_;
  // Read consumers left for the next read of the same cursor (FetchRange).
  struct Parked {
    std::string subject;
    bool unfiltered = false;
    uint64_t next = 0;  // the sequence the next read starts at
    absl::Time at;
    std::shared_ptr<ScopedPullConsumer> consumer;
    std::deque<MsgPtr> stash;  // fetched, not returned; ascending
    uint64_t pending = 0;      // on the server after the stash
  };
  absl::Mutex parked_mu_;
  std::deque<Parked> parked_ ABSL_GUARDED_BY(parked_mu_);
  std::optional<RetentionPlanner> planner_;  // set by Open
  // Stream-level limits: what JetStream enforces by itself. Rules stricter
  // than these are enforced by EnforceRetention.
  int64_t stream_max_per_subject_ = -1;  // -1: unlimited
  absl::Duration stream_max_age_ = absl::ZeroDuration();  // zero: unlimited
  int64_t max_payload_ = 0;

  // Connection objects: created by Open, destroyed by Close under conn_mu_
  // held exclusively. closed_ flips first, so holders of the shared lock
  // see UNAVAILABLE instead of dangling handles.
  mutable absl::Mutex conn_mu_;
  natsOptions* nopts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  bool closed_ ABSL_GUARDED_BY(conn_mu_) = false;

  std::atomic<uint64_t> watermark_{0};
  std::atomic<uint64_t> last_assigned_{0};
  // See Log::RemovedThrough; raised under maint_mu_ before each purge.
  std::atomic<uint64_t> removed_through_{0};

  // Publisher queue.
  absl::Mutex queue_mu_;
  std::deque<BatchPtr> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool accepting_ ABSL_GUARDED_BY(queue_mu_) = false;
  bool stop_publisher_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread publisher_;

  // Messages published and not yet acked.
  absl::Mutex ack_mu_;
  absl::flat_hash_map<natsMsg*, InFlight> in_flight_ ABSL_GUARDED_BY(ack_mu_);

  // Acked appends waiting for the watermark. released_ is the watermark up
  // to which listeners have been told; callbacks wait for it.
  absl::Mutex commit_mu_;
  std::multimap<uint64_t, BatchPtr> waiting_ ABSL_GUARDED_BY(commit_mu_);
  uint64_t released_ ABSL_GUARDED_BY(commit_mu_) = 0;

  // The tail consumer; touched only by the tail thread after Open.
  natsSubscription* tail_sub_ = nullptr;
  absl::Mutex tail_mu_;
  bool stop_tail_ ABSL_GUARDED_BY(tail_mu_) = false;
  std::thread tail_;
  std::thread::id tail_id_;
  std::thread fill_;
  std::atomic<bool> fill_stop_{false};

  internal::CommitListeners listeners_;

  absl::Mutex maint_mu_;  // serializes retention, trim and delete
  // Applies rules stricter than the stream limits; only when there are rules.
  std::unique_ptr<BackgroundLoop> retention_;

  absl::Mutex close_mu_;
  bool close_started_ ABSL_GUARDED_BY(close_mu_) = false;
};

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_JETSTREAM_LOG_IMPL_H_

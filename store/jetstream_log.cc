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
//   source of truth; the copy only holds what this node followed.
// - Wildcard reads use one unfiltered consumer matched here (nats-server 2.9
//   serves wildcard-filtered consumers very slowly); a read stopped by its
//   limits parks its consumer for the next read of the same cursor.
#include "store/jetstream_log.h"

#include "store/internal/commit_listeners.h"
#include "store/internal/event_cache.h"
#include "store/internal/log_common.h"

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

namespace tailgate::store {

namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr char kTypeHeader[] = "Tailgate-Type";
constexpr char kTimeHeader[] = "Tailgate-Time";

// Largest number of patterns read with one pull consumer each (JetStream 2.9
// consumers take one filter subject) before a read falls back to one
// consumer on the whole stream with client-side matching.
constexpr size_t kMaxMergePatterns = 4;
// A read skips at most this many non-matching events before returning, so
// one read stays bounded even when the filter matches nothing.
constexpr size_t kMaxScannedPerRead = 1 << 16;
// Events a read takes by direct get before it sets up a pull consumer.
constexpr int kDirectGets = 8;
// Longest wait for a read's pull consumer to be created (it takes
// milliseconds when it works), and how often a timeout is retried (see
// FetchRange).
constexpr int64_t kCreateConsumerWaitMillis = 500;
constexpr int kCreateConsumerAttempts = 3;
// Messages fetched per pull request: a default 1024-event read takes one.
constexpr int kFetchBatch = 1025;
// A fetch only waits when messages vanished (retention) between counting and
// fetching; this bounds that wait.
constexpr int64_t kFetchExpiresNanos = 1'000'000'000;
// Ordered consumer idle heartbeat: missed heartbeats make the client recreate
// the consumer, so this bounds how long a broken consumer goes unnoticed.
constexpr int64_t kTailHeartbeatNanos = 1'000'000'000;
// Beyond this many interior deletes, trimmed detection stops asking for the
// list and answers conservatively.
constexpr uint64_t kMaxDeletedDetails = 100'000;
// A read's consumer left for the next read is kept this long (well within
// its InactiveThreshold), and at most this many.
constexpr absl::Duration kParkedFor = absl::Seconds(5);
constexpr size_t kMaxParked = 16;
// Headroom for headers when checking an event against the server's
// max_payload.
constexpr size_t kHeaderSlack = 64;

std::string NatsErrorText(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  std::string out = natsStatus_GetText(s);
  if (text != nullptr && *text != '\0') absl::StrAppend(&out, ": ", text);
  return out;
}

}  // namespace

absl::Status FromNats(int status, int js_error_code, std::string_view what) {
  const natsStatus s = static_cast<natsStatus>(status);
  std::string msg = absl::StrCat(AV(what), ": ", NatsErrorText(s));
  if (js_error_code != 0) absl::StrAppend(&msg, " (JetStream error ", js_error_code, ")");
  switch (js_error_code) {
    case JSStreamNotFoundErr:
    case JSConsumerNotFoundErr:
    case JSNoMessageFoundErr:
      return absl::NotFoundError(msg);
    case JSInsufficientResourcesErr:
    case JSStorageResourcesExceededErr:
    case JSMemoryResourcesExceededErr:
      return absl::ResourceExhaustedError(msg);
    case JSClusterNoPeersErr:
    case JSStreamReplicasNotSupportedErr:
    case JSStreamReplicasNotUpdatableErr:
    case JSStreamNameExistErr:
      return absl::FailedPreconditionError(msg);
    default:
      break;
  }
  switch (s) {
    case NATS_OK:
      return absl::OkStatus();
    case NATS_NOT_FOUND:
      return absl::NotFoundError(msg);
    case NATS_TIMEOUT:
    case NATS_NO_SERVER:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
    case NATS_DRAINING:
    case NATS_SLOW_CONSUMER:
      return absl::UnavailableError(msg);
    case NATS_MAX_PAYLOAD:
      return absl::ResourceExhaustedError(msg);
    case NATS_INVALID_ARG:
      return absl::InvalidArgumentError(msg);
    case NATS_NO_MEMORY:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

std::string JetStreamMsgId(std::string_view topic, std::string_view key) {
  // Keys are printable ASCII without blanks, so they survive as a header
  // value unchanged.
  return absl::StrCat(AV(topic), "|", AV(key));
}

namespace {

// Owning wrappers for the C client's objects.
struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;
struct InfoDeleter {
  void operator()(jsStreamInfo* i) const { jsStreamInfo_Destroy(i); }
};
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, InfoDeleter>;
struct SubDeleter {
  void operator()(natsSubscription* s) const { natsSubscription_Destroy(s); }
};
using SubPtr = std::unique_ptr<natsSubscription, SubDeleter>;

class ScopedPullConsumer;

class JetStreamLog final : public Log {
 public:
  JetStreamLog(const Options& options, const JetStreamOptions& js)
      : options_(options),
        jso_(js),
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

  std::string Subject(std::string_view topic) const { return absl::StrCat(prefix_, AV(topic)); }
  bool TopicOf(const char* subject, std::string* topic) const;
  bool Decode(natsMsg* m, uint64_t seq, int64_t store_nanos, Event* e) const;
  absl::Status CheckOpen() const ABSL_SHARED_LOCKS_REQUIRED(conn_mu_);

  absl::Status EnsureStream();
  void BuildStreamConfig(jsStreamConfig* cfg, const char** subjects, std::string* subject) const;
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
  void RetentionLoop();

  const Options options_;
  const JetStreamOptions jso_;
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
  internal::RetentionRules rules_;  // set by Open
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

  internal::CommitListeners listeners_;

  absl::Mutex maint_mu_;  // serializes retention, trim and delete
  absl::Mutex retention_mu_;
  bool stop_retention_ ABSL_GUARDED_BY(retention_mu_) = false;
  std::thread retention_;

  absl::Mutex close_mu_;
  bool close_started_ ABSL_GUARDED_BY(close_mu_) = false;
};

// ---------------------------------------------------------------------------
// Open

bool ValidStreamName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

int64_t Nanos(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

absl::Status JetStreamLog::Open() {
  if (jso_.url.empty()) return absl::InvalidArgumentError("nats_url: must not be empty");
  if (!ValidStreamName(jso_.stream)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stream: want 1-255 characters of [A-Za-z0-9_-], got \"", jso_.stream, "\""));
  }
  if (absl::Status s = ValidateTopic(jso_.subject_prefix, "subject_prefix"); !s.ok()) return s;
  if (jso_.replicas < 1 || jso_.replicas > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("replicas: want 1-5, got ", jso_.replicas));
  }
  absl::StatusOr<internal::RetentionRules> rules = internal::RetentionRules::Parse(options_);
  if (!rules.ok()) return rules.status();
  rules_ = *std::move(rules);
  // Stream limits: the loosest rule, so JetStream never removes what a rule
  // still keeps; stricter rules are applied by EnforceRetention.
  {
    uint64_t max_events = options_.default_retention.max_events;
    absl::Duration max_age = options_.default_retention.max_age;
    for (const auto& [p, r] : rules_.rules()) {
      max_events = (max_events == 0 || r.max_events == 0) ? 0 : std::max(max_events, r.max_events);
      max_age = (max_age == absl::ZeroDuration() || r.max_age == absl::ZeroDuration())
                    ? absl::ZeroDuration()
                    : std::max(max_age, r.max_age);
    }
    stream_max_per_subject_ =
        max_events == 0 ? -1
                        : static_cast<int64_t>(std::min<uint64_t>(
                              max_events, std::numeric_limits<int64_t>::max()));
    stream_max_age_ = max_age;
  }

  // natsOptions_SetURL takes exactly one URL (only natsConnection_ConnectTo
  // splits lists), so a comma-separated --nats_url goes in as the server
  // pool: connect and reconnect then try every listed node.
  std::vector<std::string> urls;
  for (absl::string_view u : absl::StrSplit(jso_.url, ',')) {
    u = absl::StripAsciiWhitespace(u);
    if (!u.empty()) urls.emplace_back(u);
  }
  if (urls.empty()) return absl::InvalidArgumentError("nats_url: no URL in \"" + jso_.url + "\"");
  std::vector<const char*> servers;
  for (const std::string& u : urls) servers.push_back(u.c_str());
  natsStatus s = natsOptions_Create(&nopts_);
  if (s == NATS_OK) {
    s = natsOptions_SetServers(nopts_, servers.data(), static_cast<int>(servers.size()));
  }
  if (s == NATS_OK) {
    s = natsOptions_SetTimeout(nopts_, std::max<int64_t>(1, absl::ToInt64Milliseconds(jso_.connect_timeout)));
  }
  if (s == NATS_OK) s = natsOptions_SetName(nopts_, "tailgate");
  // Reconnect forever: the tail consumer and pending appends resume on
  // their own once a server is back.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nopts_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(nopts_, 100);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(nopts_, 64 << 20);
  // Half-open connections are noticed within ~3 pings.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(nopts_, 5000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(nopts_, 3);
  // Write publishes (and API requests) at once instead of waiting for the
  // client's flusher thread: an append's latency is a few round trips.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(nopts_, true);
  if (s != NATS_OK) return FromNats(s, 0, "configuring the NATS client");
  s = natsConnection_Connect(&nc_, nopts_);
  if (s != NATS_OK) {
    absl::Status st = FromNats(s, 0, absl::StrCat("connecting to NATS at ", jso_.url));
    return absl::UnavailableError(st.message());
  }
  max_payload_ = natsConnection_GetMaxPayload(nc_);

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.AckHandler = &JetStreamLog::AckHandler;
  jo.PublishAsync.AckHandlerClosure = this;
  jo.PublishAsync.MaxPending = 8192;
  // A full pipeline blocks only the publisher thread, for as long as an ack
  // may take.
  jo.PublishAsync.StallWait = std::max<int64_t>(1, absl::ToInt64Milliseconds(jso_.ack_timeout));
  s = natsConnection_JetStream(&js_, nc_, &jo);
  if (s != NATS_OK) return FromNats(s, 0, "creating the JetStream context");

  if (absl::Status st = EnsureStream(); !st.ok()) return st;
  uint64_t last = 0;
  {
    absl::ReaderMutexLock lock(&conn_mu_);
    absl::StatusOr<StreamInfoPtr> info = GetInfo(nullptr, false);
    if (!info.ok()) return info.status();
    last = (*info)->State.LastSeq;
  }
  watermark_.store(last);
  last_assigned_.store(last);
  cache_.Reset(last);
  {
    absl::MutexLock lock(&commit_mu_);
    released_ = last;
  }
  if (absl::Status st = Subscribe(last + 1); !st.ok()) return st;

  {
    absl::MutexLock lock(&queue_mu_);
    accepting_ = true;
  }
  publisher_ = std::thread([this] { PublisherLoop(); });
  tail_ = std::thread([this] { TailLoop(); });
  tail_id_ = tail_.get_id();
  if (!rules_.empty()) retention_ = std::thread([this] { RetentionLoop(); });
  return absl::OkStatus();
}

void JetStreamLog::BuildStreamConfig(jsStreamConfig* cfg, const char** subjects,
                                     std::string* subject) const {
  jsStreamConfig_Init(cfg);
  *subject = absl::StrCat(prefix_, ">");
  subjects[0] = subject->c_str();
  cfg->Name = jso_.stream.c_str();
  cfg->Description = "tailgate event log";
  cfg->Subjects = subjects;
  cfg->SubjectsLen = 1;
  cfg->Retention = js_LimitsPolicy;
  cfg->Discard = js_DiscardOld;
  cfg->Storage = js_FileStorage;
  cfg->Replicas = jso_.replicas;
  cfg->MaxMsgs = -1;
  cfg->MaxMsgsPerSubject = stream_max_per_subject_;
  cfg->MaxAge = Nanos(stream_max_age_);
  cfg->MaxBytes = options_.max_total_bytes == 0
                      ? -1
                      : static_cast<int64_t>(std::min<uint64_t>(
                            options_.max_total_bytes, std::numeric_limits<int64_t>::max()));
  int64_t dup = Nanos(options_.dedup_window);
  // JetStream requires the duplicate window to fit in MaxAge.
  if (cfg->MaxAge > 0) dup = std::min(dup, cfg->MaxAge);
  cfg->Duplicates = dup;
  cfg->AllowDirect = true;
}

absl::Status JetStreamLog::EnsureStream() {
  jsStreamConfig cfg;
  const char* subjects[1];
  std::string subject;
  BuildStreamConfig(&cfg, subjects, &subject);
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return absl::OkStatus();
  }
  if (jerr != JSStreamNameExistErr) {
    return FromNats(s, jerr, absl::StrCat("creating JetStream stream ", jso_.stream));
  }
  // It exists with other settings (e.g. new retention): adopt ours.
  si = nullptr;
  jerr = static_cast<jsErrCode>(0);
  s = js_UpdateStream(&si, js_, &cfg, nullptr, &jerr);
  if (s != NATS_OK) {
    absl::Status st = FromNats(s, jerr, absl::StrCat("updating JetStream stream ", jso_.stream));
    return absl::FailedPreconditionError(st.message());
  }
  jsStreamInfo_Destroy(si);
  return absl::OkStatus();
}

absl::Status JetStreamLog::Subscribe(uint64_t start_seq) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = jso_.stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = start_seq;
  so.Config.Heartbeat = kTailHeartbeatNanos;
  const std::string all = absl::StrCat(prefix_, ">");
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsSubscription* sub = nullptr;
  natsStatus s = js_SubscribeSync(&sub, js_, all.c_str(), nullptr, &so, &jerr);
  if (s != NATS_OK) return FromNats(s, jerr, "subscribing to the stream");
  // Queue generously: a dropped message only makes the ordered consumer
  // start over from the gap, but that costs a round trip.
  natsSubscription_SetPendingLimits(sub, 1 << 20, 1 << 30);
  tail_sub_ = sub;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Append

void JetStreamLog::AppendAsync(std::vector<EventInput> events, AppendCallback done) {
  absl::Status error = internal::ValidateAppend(events, options_.max_data_bytes);
  // Then this backend's own limit: a message (data plus headers) must fit
  // the server's max_payload, or the publish would fail after earlier events
  // of the batch were stored.
  for (size_t i = 0; i < events.size() && error.ok() && max_payload_ > 0; ++i) {
    const EventInput& e = events[i];
    const size_t overhead = kHeaderSlack + prefix_.size() + e.topic.size() + e.type.size() +
                            2 * e.idempotency_key.size() + e.topic.size();
    if (e.data.size() + overhead > static_cast<size_t>(max_payload_)) {
      error = absl::ResourceExhaustedError(
          absl::StrCat(internal::EventField(events.size(), i, "data"), ": ", e.data.size(),
                       " bytes do not fit the NATS server's max_payload of ", max_payload_));
    }
  }
  if (!error.ok()) {
    done(error);
    return;
  }
  auto b = std::make_shared<Batch>();
  b->events = std::move(events);
  b->done = std::move(done);
  b->results.resize(b->events.size());
  {
    absl::MutexLock lock(&queue_mu_);
    if (accepting_) {
      queue_.push_back(std::move(b));
      return;
    }
  }
  b->done(absl::UnavailableError("log is closed"));
}

void JetStreamLog::PublisherLoop() {
  for (;;) {
    std::deque<BatchPtr> work;
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](JetStreamLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->queue_mu_) {
            return !self->queue_.empty() || self->stop_publisher_;
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything accepted was published
      work.swap(queue_);
    }
    for (const BatchPtr& b : work) PublishBatch(b);
  }
}

void JetStreamLog::PublishBatch(const BatchPtr& b) {
  b->published = absl::Now();
  for (size_t i = 0; i < b->events.size(); ++i) {
    EventInput& e = b->events[i];
    const std::string subject = Subject(e.topic);
    natsMsg* m = nullptr;
    natsStatus s = natsMsg_Create(&m, subject.c_str(), nullptr, e.data.data(),
                                  static_cast<int>(e.data.size()));
    if (s == NATS_OK && !e.type.empty()) s = natsMsgHeader_Set(m, kTypeHeader, e.type.c_str());
    if (s == NATS_OK && e.publish_time != absl::InfinitePast()) {
      s = natsMsgHeader_Set(m, kTimeHeader,
                            absl::StrCat(absl::ToUnixNanos(e.publish_time)).c_str());
    }
    std::string msg_id;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = std::max<int64_t>(1, absl::ToInt64Milliseconds(jso_.ack_timeout));
    if (!e.idempotency_key.empty()) {
      msg_id = JetStreamMsgId(e.topic, e.idempotency_key);
      po.MsgId = msg_id.c_str();
    }
    natsMsg* const key = m;
    if (s == NATS_OK) {
      absl::MutexLock lock(&ack_mu_);
      in_flight_.emplace(key, InFlight{b, i});
      b->outstanding++;
    }
    if (s == NATS_OK) {
      // Published under no lock: the ack may arrive (and OnAck run) before
      // this returns.
      s = js_PublishMsgAsync(js_, &m, &po);
    }
    if (s != NATS_OK) {
      bool registered = false;
      {
        absl::MutexLock lock(&ack_mu_);
        registered = in_flight_.erase(key) > 0;
        if (registered) b->outstanding--;
      }
      natsMsg_Destroy(m);
      absl::Status err = FromNats(s, 0, absl::StrCat("publishing to ", subject));
      // Later events of the batch are not attempted: what was published
      // stays published (see the atomicity note in log.h).
      Settle(b, i, err, nullptr);
      break;
    }
  }
  bool finished = false;
  {
    absl::MutexLock lock(&ack_mu_);
    b->publishing = false;
    finished = b->outstanding == 0;
  }
  if (finished) Release(b);
}

void JetStreamLog::AckHandler(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* self) {
  static_cast<JetStreamLog*>(self)->OnAck(msg, pa, pae);
}

void JetStreamLog::OnAck(natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae) {
  InFlight f;
  {
    absl::MutexLock lock(&ack_mu_);
    auto it = in_flight_.find(msg);
    if (it == in_flight_.end()) {
      natsMsg_Destroy(msg);
      return;
    }
    f = std::move(it->second);
    in_flight_.erase(it);
  }
  natsMsg_Destroy(msg);
  absl::Status err;
  if (pa == nullptr) {
    const natsStatus s = pae != nullptr ? pae->Err : NATS_ERR;
    const int code = pae != nullptr ? pae->ErrCode : 0;
    std::string what = "JetStream did not acknowledge the append";
    if (pae != nullptr && pae->ErrText != nullptr) absl::StrAppend(&what, " (", pae->ErrText, ")");
    err = FromNats(s, code, what);
    if (s == NATS_TIMEOUT) {
      err = absl::UnavailableError(absl::StrCat(
          err.message(), "; the event may or may not be stored: retry with an idempotency key"));
    }
  }
  Settle(f.batch, f.index, err, pa);
  bool finished = false;
  {
    absl::MutexLock lock(&ack_mu_);
    f.batch->outstanding--;
    finished = !f.batch->publishing && f.batch->outstanding == 0;
  }
  if (finished) Release(f.batch);
}

void JetStreamLog::Settle(const BatchPtr& b, size_t index, const absl::Status& error,
                          const jsPubAck* pa) {
  absl::MutexLock lock(&ack_mu_);
  if (!error.ok()) {
    if (b->error.ok()) b->error = error;
    return;
  }
  b->acked++;
  b->results[index] = AppendResult{pa->Sequence, pa->Duplicate};
  if (!pa->Duplicate) {
    b->wait_for = std::max(b->wait_for, pa->Sequence);
    uint64_t cur = last_assigned_.load(std::memory_order_relaxed);
    while (cur < pa->Sequence &&
           !last_assigned_.compare_exchange_weak(cur, pa->Sequence, std::memory_order_acq_rel)) {
    }
  }
}

void JetStreamLog::Release(const BatchPtr& b) {
  // Observers see each append as one "commit": its stored (non-duplicate)
  // events and the time from publishing to the last JetStream ack.
  if (b->error.ok() && options_.commit_observer) {
    size_t stored = 0;
    for (const AppendResult& r : b->results) stored += r.duplicate ? 0 : 1;
    if (stored > 0) options_.commit_observer(stored, absl::Now() - b->published);
  } else if (!b->error.ok() && options_.commit_error_observer) {
    options_.commit_error_observer(b->error);
  }
  {
    absl::MutexLock lock(&ack_mu_);
    if (!b->error.ok()) {
      const size_t stored = b->acked;
      if (b->events.size() > 1) {
        b->error = absl::Status(
            b->error.code(),
            absl::StrCat(b->error.message(), " [", stored, " of ", b->events.size(),
                         " events of this batch were stored; not atomic on JetStream]"));
      }
    }
  }
  if (b->error.ok()) {
    absl::MutexLock lock(&commit_mu_);
    if (b->wait_for > released_) {
      waiting_.emplace(b->wait_for, b);
      return;
    }
  }
  Complete(b);
}

void JetStreamLog::Complete(const BatchPtr& b) {
  AppendCallback done = std::move(b->done);
  if (!b->error.ok()) {
    done(b->error);
  } else {
    done(std::move(b->results));
  }
}

// ---------------------------------------------------------------------------
// The tail: one ordered consumer per node drives the watermark.

void JetStreamLog::TailLoop() {
  std::vector<MsgPtr> msgs;
  for (;;) {
    {
      absl::MutexLock lock(&tail_mu_);
      if (stop_tail_) break;
    }
    if (tail_sub_ == nullptr) {
      // The subscription died (e.g. the consumer could not be recreated):
      // start a new one after the last delivered sequence.
      absl::Status s;
      {
        absl::ReaderMutexLock lock(&conn_mu_);
        s = closed_ ? absl::UnavailableError("closed") : Subscribe(Watermark() + 1);
      }
      if (!s.ok()) {
        absl::MutexLock lock(&tail_mu_);
        tail_mu_.AwaitWithTimeout(absl::Condition(&stop_tail_), absl::Milliseconds(250));
        continue;
      }
    }
    natsMsg* m = nullptr;
    natsStatus s = natsSubscription_NextMsg(&m, tail_sub_, 100);
    if (s == NATS_TIMEOUT) continue;
    if (s != NATS_OK) {
      if (s == NATS_SLOW_CONSUMER || s == NATS_MISSED_HEARTBEAT || s == NATS_MISMATCH) {
        continue;  // the ordered consumer resets itself from the last delivered sequence
      }
      natsSubscription_Destroy(tail_sub_);
      tail_sub_ = nullptr;
      continue;
    }
    msgs.clear();
    msgs.emplace_back(m);
    // Gather what is already queued into one notification.
    int pending = 0;
    natsSubscription_GetPending(tail_sub_, &pending, nullptr);
    const size_t max = std::max<size_t>(1, options_.max_commit_events);
    for (int i = 0; i < pending && msgs.size() < max; ++i) {
      natsMsg* more = nullptr;
      if (natsSubscription_NextMsg(&more, tail_sub_, 1) != NATS_OK) break;
      msgs.emplace_back(more);
    }
    Deliver(msgs);
  }
  if (tail_sub_ != nullptr) {
    natsSubscription_Unsubscribe(tail_sub_);
    natsSubscription_Destroy(tail_sub_);
    tail_sub_ = nullptr;
  }
}

void JetStreamLog::Deliver(std::vector<MsgPtr>& msgs) {
  std::vector<Event> events;
  events.reserve(msgs.size());
  uint64_t wm = Watermark();
  // Ids other nodes assigned beyond this node's tail are not guessed from
  // the consumer's NumPending (nats-server 2.9 can overcount it, which made
  // LastAssignedId claim ids no one assigned): IdAssigned asks the stream
  // for any id above LastAssignedId.
  for (MsgPtr& m : msgs) {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m.get()) != NATS_OK) continue;  // not a stream message
    const uint64_t seq = meta->Sequence.Stream;
    const int64_t ts = meta->Timestamp;
    jsMsgMetaData_Destroy(meta);
    if (seq <= wm) continue;  // redelivered after a consumer reset
    Event e;
    if (!Decode(m.get(), seq, ts, &e)) continue;
    wm = seq;
    events.push_back(std::move(e));
  }
  const uint64_t assigned = wm;
  uint64_t cur = last_assigned_.load(std::memory_order_relaxed);
  while (cur < assigned &&
         !last_assigned_.compare_exchange_weak(cur, assigned, std::memory_order_acq_rel)) {
  }
  if (events.empty()) return;
  cache_.Append(events, wm);
  watermark_.store(wm, std::memory_order_release);
  listeners_.Notify(events, wm);
  std::vector<BatchPtr> ready;
  {
    absl::MutexLock lock(&commit_mu_);
    released_ = wm;
    auto end = waiting_.upper_bound(wm);
    for (auto it = waiting_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    waiting_.erase(waiting_.begin(), end);
  }
  for (const BatchPtr& b : ready) Complete(b);
}

bool JetStreamLog::TopicOf(const char* subject, std::string* topic) const {
  if (subject == nullptr) return false;
  std::string_view s(subject);
  if (s.size() <= prefix_.size() || s.compare(0, prefix_.size(), prefix_) != 0) return false;
  topic->assign(s.substr(prefix_.size()));
  return true;
}

bool JetStreamLog::Decode(natsMsg* m, uint64_t seq, int64_t store_nanos, Event* e) const {
  if (!TopicOf(natsMsg_GetSubject(m), &e->topic)) return false;
  e->id = seq;
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, kTypeHeader, &v) == NATS_OK && v != nullptr) e->type = v;
  int64_t nanos = store_nanos;
  v = nullptr;
  if (natsMsgHeader_Get(m, kTimeHeader, &v) == NATS_OK && v != nullptr) {
    int64_t parsed = 0;
    if (absl::SimpleAtoi(v, &parsed)) nanos = parsed;
  }
  e->publish_time = absl::FromUnixNanos(nanos);
  const int len = natsMsg_GetDataLength(m);
  if (len > 0) e->data.assign(natsMsg_GetData(m), static_cast<size_t>(len));
  return true;
}

uint64_t JetStreamLog::AddCommitListener(CommitListener listener) {
  return listeners_.Add(std::move(listener));
}

void JetStreamLog::RemoveCommitListener(uint64_t handle) {
  listeners_.Remove(handle, std::this_thread::get_id() == tail_id_);
}

// ---------------------------------------------------------------------------
// JetStream queries

absl::Status JetStreamLog::CheckOpen() const {
  if (closed_ || js_ == nullptr) return absl::UnavailableError("log is closed");
  return absl::OkStatus();
}

absl::StatusOr<StreamInfoPtr> JetStreamLog::GetInfo(const char* subjects_filter,
                                                    bool deleted_details) {
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Info.SubjectsFilter = subjects_filter;
  o.Stream.Info.DeletedDetails = deleted_details;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js_, jso_.stream.c_str(), &o, &jerr);
  if (s != NATS_OK) return FromNats(s, jerr, absl::StrCat("reading stream ", jso_.stream));
  return StreamInfoPtr(si);
}

absl::StatusOr<MsgPtr> JetStreamLog::NextMsg(uint64_t seq, const std::string& subject) {
  jsDirectGetMsgOptions dg;
  jsDirectGetMsgOptions_Init(&dg);
  dg.Sequence = std::max<uint64_t>(seq, 1);
  dg.NextBySubject = subject.c_str();
  natsMsg* m = nullptr;
  natsStatus s = js_DirectGetMsg(&m, js_, jso_.stream.c_str(), nullptr, &dg);
  if (s == NATS_NOT_FOUND) return MsgPtr();
  if (s != NATS_OK) return FromNats(s, 0, absl::StrCat("reading ", subject));
  return MsgPtr(m);
}

absl::StatusOr<MsgPtr> JetStreamLog::LastMsg(const std::string& subject) {
  jsDirectGetMsgOptions dg;
  jsDirectGetMsgOptions_Init(&dg);
  dg.LastBySubject = subject.c_str();
  natsMsg* m = nullptr;
  natsStatus s = js_DirectGetMsg(&m, js_, jso_.stream.c_str(), nullptr, &dg);
  if (s == NATS_NOT_FOUND) return MsgPtr();
  if (s != NATS_OK) return FromNats(s, 0, absl::StrCat("reading ", subject));
  return MsgPtr(m);
}

// A pull consumer that lives for one read and is deleted after it.
class ScopedPullConsumer {
 public:
  ScopedPullConsumer(natsConnection* nc, jsCtx* js, const std::string& stream)
      : nc_(nc), js_(js), stream_(stream) {}
  ~ScopedPullConsumer() {
    if (sub_ != nullptr) natsSubscription_Destroy(sub_);
    if (name_.empty()) return;
    // Fire and forget: the read does not wait a round trip for the answer.
    // A delete that gets lost leaves the consumer to InactiveThreshold.
    const std::string api = absl::StrCat("$JS.API.CONSUMER.DELETE.", stream_, ".", name_);
    if (natsConnection_Publish(nc_, api.c_str(), nullptr, 0) != NATS_OK) {
      js_DeleteConsumer(js_, stream_.c_str(), name_.c_str(), nullptr, nullptr);
    }
  }

  // Creates it on `subject`; *pending is the number of matching messages.
  absl::Status Create(const std::string& subject, jsDeliverPolicy policy, uint64_t start_seq,
                      int64_t start_time_nanos, bool headers_only, uint64_t* pending,
                      bool unfiltered = false) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.DeliverPolicy = policy;
    if (policy == js_DeliverByStartSequence) cc.OptStartSeq = std::max<uint64_t>(start_seq, 1);
    if (policy == js_DeliverByStartTime) cc.OptStartTime = start_time_nanos;
    cc.AckPolicy = js_AckNone;
    if (!unfiltered) cc.FilterSubject = subject.c_str();
    cc.HeadersOnly = headers_only;
    cc.MemoryStorage = true;
    cc.Replicas = 1;
    // Removed by the server if this process dies before deleting it.
    cc.InactiveThreshold = 30'000'000'000;
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    // A bounded wait: a consumer placed on a crashed replica never answers
    // (see FetchRange), and the read falls back to direct gets after it.
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = kCreateConsumerWaitMillis;
    natsStatus s = js_AddConsumer(&ci, js_, stream_.c_str(), &cc, &o, &jerr);
    if (s != NATS_OK) return FromNats(s, jerr, absl::StrCat("creating a reader on ", subject));
    name_ = ci->Name;
    *pending = ci->NumPending;
    jsConsumerInfo_Destroy(ci);
    if (*pending == 0) return absl::OkStatus();
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_.c_str();
    so.Consumer = name_.c_str();
    so.Config = cc;  // binding checks that the settings agree
    so.Config.Name = name_.c_str();
    s = js_PullSubscribe(&sub_, js_, subject.c_str(), nullptr, nullptr, &so, &jerr);
    if (s != NATS_OK) return FromNats(s, jerr, absl::StrCat("reading ", subject));
    return absl::OkStatus();
  }

  // Fetches up to `batch` messages that are known to exist.
  absl::Status Fetch(int batch, natsMsgList* list) {
    jsFetchRequest fr;
    jsFetchRequest_Init(&fr);
    fr.Batch = batch;
    fr.NoWait = true;
    fr.Expires = kFetchExpiresNanos;
    natsStatus s = natsSubscription_FetchRequest(list, sub_, &fr);
    if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) return absl::OkStatus();  // fewer than expected
    if (s != NATS_OK) return FromNats(s, 0, "fetching events");
    return absl::OkStatus();
  }

 private:
  natsConnection* const nc_;
  jsCtx* const js_;
  const std::string stream_;
  std::string name_;
  natsSubscription* sub_ = nullptr;
};

absl::StatusOr<JetStreamLog::Fetched> JetStreamLog::FetchRange(
    const std::string& subject, uint64_t start, uint64_t bound, size_t max_events,
    size_t max_bytes, const TopicFilter* client_filter, bool may_park) {
  bool resumed = false;
  absl::StatusOr<Fetched> f = FetchRangeOnce(subject, start, bound, max_events, max_bytes,
                                             client_filter, may_park, &resumed);
  // A parked consumer may have gone meanwhile (its server crashed, or it was
  // removed as inactive): the read starts over with a fresh one.
  if (!f.ok() && resumed) {
    f = FetchRangeOnce(subject, start, bound, max_events, max_bytes, client_filter,
                       /*may_park=*/false, &resumed);
  }
  return f;
}

absl::StatusOr<JetStreamLog::Fetched> JetStreamLog::FetchRangeOnce(
    const std::string& subject, uint64_t start, uint64_t bound, size_t max_events,
    size_t max_bytes, const TopicFilter* client_filter, bool may_park, bool* resumed) {
  *resumed = false;
  Fetched out;
  out.last_seq = start - 1;
  size_t bytes = 0;
  size_t skipped = 0;
  // kStop: stop before this message; kStopAfter: stop after it (taken);
  // kEnd: it is above the bound.
  enum class Next { kMore, kStop, kStopAfter, kEnd };
  // Takes one message; says whether to go on.
  auto take = [&](natsMsg* m, uint64_t seq, int64_t ts) {
    if (seq > bound) return Next::kEnd;
    Event e;
    if (!Decode(m, seq, ts, &e)) return Next::kMore;
    if (client_filter != nullptr && !client_filter->Matches(e.topic)) {
      out.last_seq = seq;
      return ++skipped >= kMaxScannedPerRead ? Next::kStopAfter : Next::kMore;
    }
    const size_t size = e.data.size() + e.topic.size();
    if (out.events.size() >= max_events || (!out.events.empty() && bytes + size > max_bytes)) {
      // Resume right after the last event returned (skipped ones after it
      // are looked at again), as on RocksDB.
      out.last_seq = out.events.back().id;
      return Next::kStop;
    }
    bytes += size;
    out.last_seq = seq;
    out.events.push_back(std::move(e));
    return Next::kMore;
  };

  // Reads up to `limit` messages by direct get from `next`; *over when the
  // read is complete (out is final).
  uint64_t next = start;
  auto direct = [&](size_t limit, bool* over) ABSL_SHARED_LOCKS_REQUIRED(conn_mu_) {
    *over = true;
    for (size_t i = 0; i < limit; ++i) {
      if (out.events.size() >= max_events) return absl::OkStatus();
      absl::StatusOr<MsgPtr> m = NextMsg(next, subject);
      if (!m.ok()) return m.status();
      if (*m == nullptr) {
        out.exhausted = true;
        return absl::OkStatus();
      }
      const uint64_t seq = natsMsg_GetSequence(m->get());
      switch (take(m->get(), seq, natsMsg_GetTime(m->get()))) {
        case Next::kMore:
          break;
        case Next::kStop:
        case Next::kStopAfter:
          return absl::OkStatus();
        case Next::kEnd:
          out.exhausted = true;
          return absl::OkStatus();
      }
      next = seq + 1;
    }
    *over = false;
    return absl::OkStatus();
  };
  constexpr size_t kUnbounded = std::numeric_limits<size_t>::max();
  const bool unfiltered = client_filter != nullptr;

  // The previous read of this cursor may have left its consumer.
  std::shared_ptr<ScopedPullConsumer> consumer;
  std::deque<MsgPtr> buf;  // fetched, not yet taken
  uint64_t pending = 0;    // on the server after buf
  std::deque<Parked> expired;  // destroyed outside parked_mu_
  if (may_park) {
    absl::MutexLock lock(&parked_mu_);
    const absl::Time now = absl::Now();
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (now - it->at > kParkedFor) {
        expired.push_back(std::move(*it));
        it = parked_.erase(it);
      } else if (consumer == nullptr && it->next == start && it->unfiltered == unfiltered &&
                 it->subject == subject) {
        consumer = std::move(it->consumer);
        buf = std::move(it->stash);
        pending = it->pending;
        *resumed = true;
        it = parked_.erase(it);
      } else {
        ++it;
      }
    }
  }
  expired.clear();

  if (consumer == nullptr) {
    // Short reads (a cursor slightly behind) are cheapest one direct get per
    // event; longer ones switch to a pull consumer, which batches.
    bool over = false;
    if (absl::Status s = direct(kDirectGets, &over); !s.ok()) return s;
    if (over) return out;

    // JetStream 2.9 places an R1 consumer on a random replica of the stream,
    // and one that crashed counts as online until the cluster notices: a
    // consumer placed there is never created and the request times out. So a
    // timeout is retried (another random placement), and after the last one
    // the read goes on with direct gets, which the live replicas answer: it
    // completes anyway, one round trip per event.
    consumer = std::make_shared<ScopedPullConsumer>(nc_, js_, jso_.stream);
    absl::Status created;
    for (int attempt = 0; attempt < kCreateConsumerAttempts; ++attempt) {
      created = consumer->Create(subject, js_DeliverByStartSequence, next, 0, false, &pending,
                                 unfiltered);
      if (created.ok() || !absl::IsUnavailable(created)) break;
    }
    if (!created.ok()) {
      if (!absl::IsUnavailable(created)) return created;
      if (absl::Status d = direct(kUnbounded, &over); !d.ok()) return d;
      return out;
    }
  }

  Next verdict = Next::kMore;
  for (;;) {
    if (buf.empty()) {
      if (pending == 0) break;
      const size_t want = std::min<uint64_t>(
          pending, std::min<size_t>(kFetchBatch, max_events - out.events.size() + 1));
      natsMsgList list{};
      if (absl::Status s = consumer->Fetch(static_cast<int>(want), &list); !s.ok()) return s;
      if (list.Count == 0) {
        natsMsgList_Destroy(&list);
        // Either retention removed them meanwhile, or the fetch failed (e.g. a
        // reconnect): only the first may be reported as "no more".
        absl::StatusOr<MsgPtr> m = NextMsg(next, subject);
        if (!m.ok()) return m.status();
        if (*m != nullptr && natsMsg_GetSequence(m->get()) <= bound) {
          return absl::UnavailableError(
              absl::StrCat("reading ", subject, ": fetch returned nothing"));
        }
        pending = 0;
        break;
      }
      for (int i = 0; i < list.Count; ++i) {
        buf.emplace_back(list.Msgs[i]);
        list.Msgs[i] = nullptr;
      }
      natsMsgList_Destroy(&list);
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, buf.back().get()) == NATS_OK) {
        pending = meta->NumPending;
        jsMsgMetaData_Destroy(meta);
      }
    }
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, buf.front().get()) != NATS_OK) {
      buf.pop_front();
      continue;
    }
    const uint64_t seq = meta->Sequence.Stream;
    const int64_t ts = meta->Timestamp;
    jsMsgMetaData_Destroy(meta);
    verdict = take(buf.front().get(), seq, ts);
    if (verdict == Next::kStop || verdict == Next::kEnd) break;
    buf.pop_front();
    next = seq + 1;
    if (verdict == Next::kStopAfter) break;
  }
  if (verdict == Next::kMore || verdict == Next::kEnd) out.exhausted = true;
  if (may_park && (!buf.empty() || pending > 0)) {
    Parked p;
    p.subject = subject;
    p.unfiltered = unfiltered;
    // The next read starts right after what this one covered.
    p.next = out.exhausted ? bound + 1 : out.last_seq + 1;
    p.at = absl::Now();
    p.consumer = std::move(consumer);
    p.stash = std::move(buf);
    p.pending = pending;
    absl::MutexLock lock(&parked_mu_);
    parked_.push_back(std::move(p));
    while (parked_.size() > kMaxParked) {
      expired.push_back(std::move(parked_.front()));
      parked_.pop_front();
    }
  }
  return out;
}

absl::StatusOr<bool> JetStreamLog::Trimmed(uint64_t after_id) {
  // Removals are prefixes of topics (retention, trim, delete; tailgate never
  // deletes single messages). What JetStream reports is which sequences are
  // gone (below FirstSeq, plus interior deletes) but not their topics, so
  // any removed sequence above after_id counts: conservative, never a
  // silent gap.
  absl::StatusOr<StreamInfoPtr> info = GetInfo(nullptr, false);
  if (!info.ok()) return info.status();
  const jsStreamState& st = (*info)->State;
  if (st.LastSeq <= after_id) return false;
  if (st.FirstSeq > after_id + 1) return true;
  if (st.NumDeleted == 0) return false;
  if (st.NumDeleted > kMaxDeletedDetails) return true;
  info = GetInfo(nullptr, true);
  if (!info.ok()) return info.status();
  const jsStreamState& d = (*info)->State;
  if (d.FirstSeq > after_id + 1) return true;
  for (int i = 0; i < d.DeletedLen; ++i) {
    if (d.Deleted[i] > after_id) return true;
  }
  return false;
}

absl::StatusOr<bool> JetStreamLog::IdAssigned(uint64_t id) {
  if (id <= LastAssignedId()) return true;
  // Another node may have assigned it and this node's tail not reached it
  // yet (e.g. while it reconnects): the stream knows.
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<StreamInfoPtr> info = GetInfo(nullptr, false);
  if (!info.ok()) return info.status();
  const uint64_t last = (*info)->State.LastSeq;
  uint64_t cur = last_assigned_.load(std::memory_order_relaxed);
  while (cur < last &&
         !last_assigned_.compare_exchange_weak(cur, last, std::memory_order_acq_rel)) {
  }
  return id <= last;
}

absl::StatusOr<ReadResult> JetStreamLog::Read(const ReadRequest& request) {
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const uint64_t wm = Watermark();
  const uint64_t bound = request.up_to_id == 0 ? wm : std::min(request.up_to_id, wm);
  ReadResult result;
  result.next_after_id = request.after_id;
  if (request.after_id >= bound) {
    result.reached_end = true;
    return result;
  }
  absl::StatusOr<bool> trimmed = Trimmed(request.after_id);
  if (!trimmed.ok()) return trimmed.status();
  result.trimmed = *trimmed;
  const auto& patterns = request.filter.patterns();
  if (patterns.empty()) {
    result.reached_end = true;
    result.next_after_id = bound;
    return result;
  }
  if (!result.trimmed) {
    // Nothing above the cursor was removed, so the events the tail delivered
    // in (after_id, bound] are exactly what the stream holds there.
    std::optional<ReadResult> cached = cache_.Read(request, bound, kMaxScannedPerRead);
    if (cached.has_value()) return *std::move(cached);
  }
  const size_t max_events = std::max<size_t>(1, request.max_events);
  const uint64_t start = request.after_id + 1;

  const bool any_wildcard = std::any_of(patterns.begin(), patterns.end(),
                                        [](const TopicPattern& p) { return !p.IsExact(); });
  if (patterns.size() > kMaxMergePatterns || any_wildcard) {
    // One consumer over everything (no filter subject), matched here.
    absl::StatusOr<Fetched> f = FetchRange(absl::StrCat(prefix_, ">"), start, bound, max_events,
                                           request.max_bytes, &request.filter,
                                           /*may_park=*/!result.trimmed);
    if (!f.ok()) return f.status();
    result.events = std::move(f->events);
    if (f->exhausted) {
      result.reached_end = true;
      result.next_after_id = bound;
    } else {
      result.next_after_id = std::max(request.after_id, f->last_seq);
    }
    return result;
  }

  // One consumer per pattern, merged by id. Each fetches at most max_events
  // (ignoring the byte budget, applied after the merge); events up to the
  // smallest "looked at" sequence of an unfinished consumer are complete.
  std::set<std::string> seen;
  std::map<uint64_t, Event> merged;
  uint64_t complete_through = bound;
  for (const TopicPattern& p : patterns) {
    if (!seen.insert(p.str()).second) continue;
    // One pattern: its byte budget applies in FetchRange already, so the
    // read ends where its consumer stopped and the next one can take it over.
    const bool one = patterns.size() == 1;
    absl::StatusOr<Fetched> f =
        FetchRange(Subject(p.str()), start, bound, max_events,
                   one ? request.max_bytes : std::numeric_limits<size_t>::max(), nullptr,
                   /*may_park=*/one && !result.trimmed);
    if (!f.ok()) return f.status();
    if (!f->exhausted) complete_through = std::min(complete_through, f->last_seq);
    for (Event& e : f->events) merged.emplace(e.id, std::move(e));
  }
  size_t bytes = 0;
  for (auto& [id, e] : merged) {
    if (id > complete_through) break;
    const size_t size = e.data.size() + e.topic.size();
    if (result.events.size() >= max_events ||
        (!result.events.empty() && bytes + size > request.max_bytes)) {
      result.next_after_id = result.events.back().id;
      return result;
    }
    bytes += size;
    result.events.push_back(std::move(e));
  }
  if (complete_through >= bound) {
    result.reached_end = true;
    result.next_after_id = bound;
  } else {
    result.next_after_id = std::max(request.after_id, complete_through);
  }
  return result;
}

absl::StatusOr<uint64_t> JetStreamLog::CursorAtTime(absl::Time t) {
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const uint64_t wm = Watermark();
  const std::string all = absl::StrCat(prefix_, ">");
  // Binary search over sequences for the first event published at or after
  // t (publish times are assumed to grow with ids, as they do unless
  // publishers pass explicit, out-of-order times). `probe(seq)` looks at the
  // first retained event at or after seq.
  absl::StatusOr<StreamInfoPtr> info = GetInfo(nullptr, false);
  if (!info.ok()) return info.status();
  uint64_t lo = std::max<uint64_t>((*info)->State.FirstSeq, 1);
  uint64_t hi = std::min<uint64_t>((*info)->State.LastSeq, wm) + 1;  // answer in [lo, hi]
  uint64_t found = 0;  // sequence of the first event at/after t, 0 = none
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    absl::StatusOr<MsgPtr> m = NextMsg(mid, all);
    if (!m.ok()) return m.status();
    uint64_t seq = 0;
    Event e;
    if (*m != nullptr) {
      seq = natsMsg_GetSequence(m->get());
      if (!Decode(m->get(), seq, natsMsg_GetTime(m->get()), &e)) seq = 0;
    }
    if (seq == 0 || seq > wm) {
      hi = mid;  // nothing retained from mid on (within the watermark)
    } else if (e.publish_time >= t) {
      found = seq;
      hi = mid;
    } else {
      lo = seq + 1;
    }
  }
  if (found == 0) return wm;
  return std::min(found - 1, wm);
}

absl::StatusOr<uint64_t> JetStreamLog::EarliestCursor(const TopicFilter& filter) {
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const uint64_t wm = Watermark();
  uint64_t cursor = wm;
  for (const TopicPattern& p : filter.patterns()) {
    absl::StatusOr<MsgPtr> m = NextMsg(1, Subject(p.str()));
    if (!m.ok()) return m.status();
    if (*m == nullptr) continue;
    const uint64_t seq = natsMsg_GetSequence(m->get());
    if (seq > 0) cursor = std::min(cursor, seq - 1);
  }
  return cursor;
}

absl::StatusOr<uint64_t> JetStreamLog::PendingFrom(const std::string& subject, uint64_t seq) {
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.DeliverPolicy = js_DeliverByStartSequence;
  cc.OptStartSeq = std::max<uint64_t>(seq, 1);
  cc.AckPolicy = js_AckNone;
  cc.FilterSubject = subject.c_str();
  cc.HeadersOnly = true;
  cc.MemoryStorage = true;
  cc.Replicas = 1;
  cc.InactiveThreshold = 30'000'000'000;  // Removed by the server if this process dies.
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = kCreateConsumerWaitMillis;
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddConsumer(&ci, js_, jso_.stream.c_str(), &cc, &o, &jerr);
  if (s != NATS_OK) return FromNats(s, jerr, absl::StrCat("counting ", subject));
  const uint64_t pending = ci->NumPending;
  js_DeleteConsumer(js_, jso_.stream.c_str(), ci->Name, nullptr, nullptr);
  jsConsumerInfo_Destroy(ci);
  return pending;
}

absl::StatusOr<uint64_t> JetStreamLog::SubjectCursorBeforeLast(const std::string& subject,
                                                               size_t n, uint64_t first_seq,
                                                               uint64_t bound) {
  // count(s) = matching messages in (s, bound]. The count above the bound is
  // taken after the one from s, so appends landing in between can only make
  // it smaller: the answer is never past the true cursor (the caller's exact
  // pass then trims what is extra).
  auto count = [&](uint64_t s) -> absl::StatusOr<uint64_t> {
    absl::StatusOr<uint64_t> from = PendingFrom(subject, s + 1);
    if (!from.ok()) return from.status();
    absl::StatusOr<uint64_t> above = PendingFrom(subject, bound + 1);
    if (!above.ok()) return above.status();
    return *from > *above ? *from - *above : 0;
  };
  const uint64_t floor = first_seq > 0 ? first_seq - 1 : 0;
  // Gallop back from the bound (n, 2n, 4n ... ids: dense topics stop at
  // once), then bisect: count(lo) >= n > count(hi).
  uint64_t hi = bound;
  uint64_t lo = 0;
  for (uint64_t k = n;; k *= 2) {
    const uint64_t s = bound > floor + k ? bound - k : floor;
    absl::StatusOr<uint64_t> c = count(s);
    if (!c.ok()) return c.status();
    if (*c >= n) {
      lo = s;
      break;
    }
    if (s == floor) return uint64_t{0};  // Fewer than n retained.
    hi = s;
  }
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    absl::StatusOr<uint64_t> c = count(mid);
    if (!c.ok()) return c.status();
    (*c >= n ? lo : hi) = mid;
  }
  return lo;
}

absl::StatusOr<uint64_t> JetStreamLog::CursorBeforeLast(const TopicFilter& filter, size_t n,
                                                        uint64_t up_to_id) {
  const uint64_t wm = Watermark();
  const uint64_t bound = up_to_id == 0 ? wm : std::min(up_to_id, wm);
  if (n == 0 || filter.patterns().empty()) return bound;
  // Each pattern alone: the largest cursor with n of its messages after it.
  // The union's cursor is at or above every one of them, and above their
  // maximum there are at most (patterns x n) matching events.
  uint64_t from = 0;
  {
    absl::ReaderMutexLock lock(&conn_mu_);
    if (absl::Status s = CheckOpen(); !s.ok()) return s;
    absl::StatusOr<StreamInfoPtr> info = GetInfo(nullptr, false);
    if (!info.ok()) return info.status();
    const uint64_t first_seq = (*info)->State.FirstSeq;
    std::set<std::string> seen;
    for (const TopicPattern& p : filter.patterns()) {
      if (!seen.insert(p.str()).second) continue;
      absl::StatusOr<uint64_t> c = SubjectCursorBeforeLast(Subject(p.str()), n, first_seq, bound);
      if (!c.ok()) return c.status();
      from = std::max(from, *c);
    }
  }
  // The exact pass: read forward from there, keeping the last n ids.
  std::deque<uint64_t> last;
  ReadRequest req;
  req.filter = filter;
  req.after_id = from;
  req.up_to_id = bound;
  req.max_events = 1024;
  while (true) {
    absl::StatusOr<ReadResult> r = Read(req);
    if (!r.ok()) return r.status();
    for (const Event& e : r->events) {
      last.push_back(e.id);
      if (last.size() > n) last.pop_front();
    }
    if (r->reached_end || r->next_after_id <= req.after_id) break;
    req.after_id = r->next_after_id;
  }
  return last.empty() ? bound : last.front() - 1;
}

absl::StatusOr<std::map<std::string, uint64_t>> JetStreamLog::SubjectCounts(
    const TopicFilter& filter) {
  std::map<std::string, uint64_t> counts;  // topic -> retained events
  std::vector<std::string> queries;
  if (filter.patterns().size() > kMaxMergePatterns) {
    queries.push_back(absl::StrCat(prefix_, ">"));
  } else {
    for (const TopicPattern& p : filter.patterns()) queries.push_back(Subject(p.str()));
  }
  for (const std::string& q : queries) {
    absl::StatusOr<StreamInfoPtr> info = GetInfo(q.c_str(), false);
    if (!info.ok()) return info.status();
    const jsStreamStateSubjects* subjects = (*info)->State.Subjects;
    if (subjects == nullptr) continue;
    for (int i = 0; i < subjects->Count; ++i) {
      std::string topic;
      if (!TopicOf(subjects->List[i].Subject, &topic) || subjects->List[i].Msgs == 0) continue;
      if (!filter.Matches(topic)) continue;
      counts[topic] = subjects->List[i].Msgs;
    }
  }
  return counts;
}

absl::StatusOr<std::vector<TopicInfo>> JetStreamLog::ListTopics(const TopicFilter& filter) {
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<std::map<std::string, uint64_t>> counts = SubjectCounts(filter);
  if (!counts.ok()) return counts.status();
  std::vector<TopicInfo> out;
  out.reserve(counts->size());
  for (const auto& [topic, count] : *counts) {
    TopicInfo info;
    info.topic = topic;
    info.count = count;
    const std::string subject = Subject(topic);
    absl::StatusOr<MsgPtr> first = NextMsg(1, subject);
    if (!first.ok()) return first.status();
    if (*first != nullptr) info.first_id = natsMsg_GetSequence(first->get());
    absl::StatusOr<MsgPtr> last = LastMsg(subject);
    if (!last.ok()) return last.status();
    if (*last != nullptr) info.last_id = natsMsg_GetSequence(last->get());
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<LogStats> JetStreamLog::Stats() {
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  absl::StatusOr<StreamInfoPtr> info = GetInfo(nullptr, false);
  if (!info.ok()) return info.status();
  LogStats stats;
  stats.watermark = Watermark();
  stats.events = (*info)->State.Msgs;
  stats.bytes = (*info)->State.Bytes;
  stats.topics = static_cast<uint64_t>(std::max<int64_t>(0, (*info)->State.NumSubjects));
  stats.disk_bytes = (*info)->State.Bytes;
  return stats;
}

absl::Status JetStreamLog::Checkpoint(const std::string&) {
  return absl::UnimplementedError(
      "checkpoint: the JetStream log is backed up with JetStream's own tools "
      "(e.g. `nats stream backup`), not by tailgate");
}

// ---------------------------------------------------------------------------
// Retention, trim, delete

absl::Status JetStreamLog::Purge(const std::string& subject, uint64_t before_seq, uint64_t keep) {
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Purge.Subject = subject.c_str();
  o.Stream.Purge.Sequence = before_seq;
  o.Stream.Purge.Keep = keep;
  // A purge by sequence removes ids below it; one by count or of a whole
  // subject may remove up to the newest id.
  const uint64_t through = before_seq > 0 ? before_seq - 1 : LastAssignedId();
  if (through > removed_through_.load(std::memory_order_relaxed)) {
    removed_through_.store(through, std::memory_order_release);
  }
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PurgeStream(js_, jso_.stream.c_str(), &o, &jerr);
  if (s != NATS_OK) return FromNats(s, jerr, absl::StrCat("purging ", subject));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> JetStreamLog::FirstSeqAtStoreTime(const std::string& subject,
                                                           absl::Time t) {
  ScopedPullConsumer consumer(nc_, js_, jso_.stream);
  uint64_t pending = 0;
  if (absl::Status s = consumer.Create(subject, js_DeliverByStartTime, 0, absl::ToUnixNanos(t),
                                       /*headers_only=*/true, &pending);
      !s.ok()) {
    return s;
  }
  if (pending == 0) return uint64_t{0};
  natsMsgList list{};
  if (absl::Status s = consumer.Fetch(1, &list); !s.ok()) return s;
  uint64_t seq = 0;
  if (list.Count > 0) {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, list.Msgs[0]) == NATS_OK) {
      seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
  }
  natsMsgList_Destroy(&list);
  return seq;
}

absl::Status JetStreamLog::EnforceRetention() {
  // JetStream applies the stream limits (the loosest rule, the byte cap) by
  // itself; this pass applies rules stricter than those, by store time.
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (rules_.empty()) return absl::OkStatus();
  TopicFilter all({*TopicPattern::Parse(">")});
  absl::StatusOr<std::map<std::string, uint64_t>> counts = SubjectCounts(all);
  if (!counts.ok()) return counts.status();
  const absl::Time now = absl::Now();
  for (const auto& [topic, count] : *counts) {
    const RetentionRule& rule = rules_.For(topic);
    const std::string subject = Subject(topic);
    if (rule.max_events > 0 && count > rule.max_events &&
        (stream_max_per_subject_ < 0 ||
         rule.max_events < static_cast<uint64_t>(stream_max_per_subject_))) {
      if (absl::Status s = Purge(subject, 0, rule.max_events); !s.ok()) return s;
    }
    if (rule.max_age > absl::ZeroDuration() &&
        (stream_max_age_ == absl::ZeroDuration() || rule.max_age < stream_max_age_)) {
      const absl::Time cutoff = now - rule.max_age;
      absl::StatusOr<MsgPtr> first = NextMsg(1, subject);
      if (!first.ok()) return first.status();
      if (*first == nullptr || absl::FromUnixNanos(natsMsg_GetTime(first->get())) >= cutoff) {
        continue;
      }
      absl::StatusOr<uint64_t> keep_from = FirstSeqAtStoreTime(subject, cutoff);
      if (!keep_from.ok()) return keep_from.status();
      // 0: every retained event is older than the cutoff.
      if (absl::Status s = *keep_from == 0 ? Purge(subject, 0, 0) : Purge(subject, *keep_from, 0);
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status JetStreamLog::TrimTopic(std::string_view topic, uint64_t up_to_id) {
  if (absl::Status s = ValidateTopic(topic); !s.ok()) return s;
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const std::string subject = Subject(topic);
  absl::StatusOr<MsgPtr> first = NextMsg(1, subject);
  if (!first.ok()) return first.status();
  if (*first == nullptr) {
    return absl::NotFoundError(absl::StrCat("topic \"", AV(topic), "\" has no events"));
  }
  if (up_to_id == 0) return absl::OkStatus();
  return Purge(subject, up_to_id == std::numeric_limits<uint64_t>::max() ? 0 : up_to_id + 1, 0);
}

absl::Status JetStreamLog::DeleteTopic(std::string_view topic) {
  if (absl::Status s = ValidateTopic(topic); !s.ok()) return s;
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  const std::string subject = Subject(topic);
  absl::StatusOr<MsgPtr> first = NextMsg(1, subject);
  if (!first.ok()) return first.status();
  if (*first == nullptr) {
    return absl::NotFoundError(absl::StrCat("topic \"", AV(topic), "\" has no events"));
  }
  return Purge(subject, 0, 0);
}

void JetStreamLog::RetentionLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&retention_mu_);
      retention_mu_.AwaitWithTimeout(absl::Condition(&stop_retention_),
                                     options_.retention_interval);
      if (stop_retention_) return;
    }
    // Failures (e.g. while disconnected) are retried on the next pass.
    EnforceRetention().IgnoreError();
  }
}

// ---------------------------------------------------------------------------
// Close

void JetStreamLog::Close() {
  {
    absl::MutexLock lock(&close_mu_);
    if (close_started_) return;
    close_started_ = true;
  }
  {
    absl::MutexLock lock(&queue_mu_);
    accepting_ = false;
    stop_publisher_ = true;
  }
  if (retention_.joinable()) {
    {
      absl::MutexLock lock(&retention_mu_);
      stop_retention_ = true;
    }
    retention_.join();
  }
  // Publish everything accepted, then wait (bounded) for the acks and for
  // the tail to cover them, so accepted appends complete normally.
  if (publisher_.joinable()) publisher_.join();
  if (js_ != nullptr) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = std::max<int64_t>(1, absl::ToInt64Milliseconds(jso_.ack_timeout));
    js_PublishAsyncComplete(js_, &po);
  }
  {
    absl::MutexLock lock(&commit_mu_);
    commit_mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::multimap<uint64_t, BatchPtr>* w) { return w->empty(); }, &waiting_),
        jso_.ack_timeout);
  }
  if (tail_.joinable()) {
    {
      absl::MutexLock lock(&tail_mu_);
      stop_tail_ = true;
    }
    tail_.join();
  }
  // Acked but not yet seen by the tail: stored, so they succeed.
  std::multimap<uint64_t, BatchPtr> late;
  {
    absl::MutexLock lock(&commit_mu_);
    late.swap(waiting_);
  }
  for (auto& [id, b] : late) Complete(b);
  // Never acked: fail them (they may or may not be stored). (The client
  // crashes listing pending publishes when there never were any.)
  bool unacked = false;
  {
    absl::MutexLock lock(&ack_mu_);
    unacked = !in_flight_.empty();
  }
  if (js_ != nullptr && unacked) {
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) {
      std::vector<BatchPtr> failed;
      for (int i = 0; i < pending.Count; ++i) {
        absl::MutexLock lock(&ack_mu_);
        auto it = in_flight_.find(pending.Msgs[i]);
        if (it == in_flight_.end()) continue;
        BatchPtr b = it->second.batch;
        in_flight_.erase(it);
        if (b->error.ok()) {
          b->error = absl::UnavailableError(
              "log closed before JetStream acknowledged the append; it may or may not be stored");
        }
        if (--b->outstanding == 0 && !b->publishing) failed.push_back(b);
      }
      natsMsgList_Destroy(&pending);
      for (const BatchPtr& b : failed) Release(b);
    }
  }
  absl::MutexLock lock(&conn_mu_);
  closed_ = true;
  {
    std::deque<Parked> parked;
    {
      absl::MutexLock l(&parked_mu_);
      parked.swap(parked_);
    }
  }
  if (js_ != nullptr) jsCtx_Destroy(js_);
  js_ = nullptr;
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
  nc_ = nullptr;
  if (nopts_ != nullptr) natsOptions_Destroy(nopts_);
  nopts_ = nullptr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Log>> OpenJetStreamLog(const Options& options,
                                                      const JetStreamOptions& js) {
  auto log = std::make_unique<JetStreamLog>(options, js);
  if (absl::Status s = log->Open(); !s.ok()) return s;
  return std::unique_ptr<Log>(std::move(log));
}

}  // namespace tailgate::store

#include "store/jetstream/log_impl.h"
#include "store/absl_view.h"

namespace tailgate::store::internal {

// ---------------------------------------------------------------------------
// Open


absl::Status JetStreamLog::Open() {
  if (jso_.url.empty()) return absl::InvalidArgumentError("nats_url: must not be empty");
  if (absl::Status s = ValidateJetStreamStreamName(jso_.stream, "stream"); !s.ok()) return s;
  if (absl::Status s = ValidateTopic(jso_.subject_prefix, "subject_prefix"); !s.ok()) return s;
  if (jso_.replicas < 1 || jso_.replicas > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("replicas: want 1-5, got ", jso_.replicas));
  }
  absl::StatusOr<internal::RetentionRules> rules = internal::RetentionRules::Parse(options_);
  if (!rules.ok()) return rules.status();
  // Stream limits: the loosest rule, so JetStream never removes what a rule
  // still keeps; stricter rules are applied by EnforceRetention.
  const StorageLimits stream_limits = LoosestLimits(*rules);
  stream_max_per_subject_ =
      stream_limits.max_events == 0
          ? -1
          : static_cast<int64_t>(std::min<uint64_t>(stream_limits.max_events,
                                                    std::numeric_limits<int64_t>::max()));
  stream_max_age_ = stream_limits.max_age;
  planner_.emplace(*std::move(rules), hooks_.clock, stream_limits);

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
  if (jso_.read_cache_bytes > 0 && last > 0) {
    fill_ = std::thread([this, last] { FillCache(last); });
  } else if (hooks_.cache_filled) {
    hooks_.cache_filled(last, last, 0);
  }
  if (!planner_->rules().empty()) {
    retention_ = std::make_unique<BackgroundLoop>(
        [this] {
          // Failures (e.g. while disconnected) are retried on the next pass.
          EnforceRetention().IgnoreError();
          return options_.retention_interval;
        },
        options_.retention_interval);
  }
  return absl::OkStatus();
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


uint64_t JetStreamLog::AddCommitListener(CommitListener listener) {
  return listeners_.Add(std::move(listener));
}

void JetStreamLog::RemoveCommitListener(uint64_t handle) {
  listeners_.Remove(handle, std::this_thread::get_id() == tail_id_);
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
  if (retention_ != nullptr) retention_->Stop();
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
  fill_stop_.store(true, std::memory_order_release);
  if (fill_.joinable()) fill_.join();
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


}  // namespace tailgate::store::internal

namespace tailgate::store {

absl::Status ValidateJetStreamStreamName(std::string_view name, std::string_view field) {
  // NATS's own rule: the name is a token of API subjects and a directory of
  // the server's store.
  bool ok = !name.empty();
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '.' || c == '*' || c == '>' || c == '/' || c == '\\') {
      ok = false;
    }
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      AbslView(field),
      " must be a non-empty name without spaces, '.', '*', '>', '/' or '\\', got '",
      AbslView(name), "'"));
}

absl::StatusOr<std::unique_ptr<Log>> OpenJetStreamLogWithHooks(const Options& options,
                                                               const JetStreamOptions& js,
                                                               JetStreamLogHooks hooks) {
  auto log = std::make_unique<internal::JetStreamLog>(options, js, std::move(hooks));
  if (absl::Status s = log->Open(); !s.ok()) return s;
  return std::unique_ptr<Log>(std::move(log));
}

absl::StatusOr<std::unique_ptr<Log>> OpenJetStreamLog(const Options& options,
                                                      const JetStreamOptions& js) {
  return OpenJetStreamLogWithHooks(options, js, JetStreamLogHooks());
}

}  // namespace tailgate::store

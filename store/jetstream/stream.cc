#include "store/jetstream/log_impl.h"

namespace tailgate::store::internal {

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

absl::StatusOr<natsSubscription*> JetStreamLog::SubscribeOrdered(uint64_t start_seq,
                                                                 int pending_msgs,
                                                                 int pending_bytes) {
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
  natsSubscription_SetPendingLimits(sub, pending_msgs, pending_bytes);
  return sub;
}

absl::Status JetStreamLog::Subscribe(uint64_t start_seq) {
  // Queue generously: a dropped message only makes the ordered consumer
  // start over from the gap, but that costs a round trip.
  absl::StatusOr<natsSubscription*> sub = SubscribeOrdered(start_seq, 1 << 20, 1 << 30);
  if (!sub.ok()) return sub.status();
  tail_sub_ = *sub;
  return absl::OkStatus();
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


}  // namespace tailgate::store::internal

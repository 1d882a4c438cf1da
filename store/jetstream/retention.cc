#include "store/jetstream/log_impl.h"
#include "store/absl_view.h"

namespace tailgate::store::internal {

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
  if (StreamPosition at; list.Count > 0 && PositionOf(list.Msgs[0], &at)) seq = at.seq;
  natsMsgList_Destroy(&list);
  return seq;
}

absl::Status JetStreamLog::EnforceRetention() {
  // JetStream applies the stream limits (the loosest rule, the byte cap) by
  // itself; this pass applies rules stricter than those, by store time.
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock lock(&conn_mu_);
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (planner_->rules().empty()) return absl::OkStatus();
  TopicFilter all({*TopicPattern::Parse(">")});
  absl::StatusOr<std::map<std::string, uint64_t>> counts = SubjectCounts(all);
  if (!counts.ok()) return counts.status();
  const absl::Time now = planner_->Now();
  for (const auto& [topic, count] : *counts) {
    const TopicCut cut = planner_->Plan(topic, count, now);
    if (cut.empty()) continue;
    const std::string subject = Subject(topic);
    if (cut.over > 0) {
      if (absl::Status s = Purge(subject, 0, count - cut.over); !s.ok()) return s;
    }
    if (cut.by_age()) {
      const absl::Time cutoff = cut.older_than;
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
    return absl::NotFoundError(absl::StrCat("topic \"", AbslView(topic), "\" has no events"));
  }
  if (up_to_id == 0) return absl::OkStatus();
  return Purge(subject, up_to_id == std::numeric_limits<uint64_t>::max() ? 0 : up_to_id + 1, 0);
}

// On JetStream a topic is its subject's messages: deleting it is trimming all of them.
absl::Status JetStreamLog::DeleteTopic(std::string_view topic) {
  return TrimTopic(topic, std::numeric_limits<uint64_t>::max());
}



}  // namespace tailgate::store::internal

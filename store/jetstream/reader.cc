#include "store/jetstream/log_impl.h"

namespace tailgate::store::internal {

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


}  // namespace tailgate::store::internal

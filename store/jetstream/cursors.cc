#include "store/jetstream/log_impl.h"

namespace tailgate::store::internal {

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


}  // namespace tailgate::store::internal

#include "store/jetstream/log_impl.h"

namespace tailgate::store::internal {

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
      if (StreamPosition newest; PositionOf(buf.back().get(), &newest)) pending = newest.pending;
    }
    StreamPosition at;
    if (!PositionOf(buf.front().get(), &at)) {
      buf.pop_front();
      continue;
    }
    const uint64_t seq = at.seq;
    verdict = take(buf.front().get(), seq, at.store_nanos);
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


}  // namespace tailgate::store::internal

#include "store/jetstream/log_impl.h"

namespace tailgate::store::internal {

// ---------------------------------------------------------------------------
// Loading the read cache at open: the history the tail will never deliver.
//
// One ordered push consumer from the first sequence that fits the budget up
// to the watermark at open (a pull consumer costs a round trip per batch:
// ≈ 3x slower here). The events go into the cache in one Prepend at the end,
// so reads of history go to the stream until the load is complete.

void JetStreamLog::FillCache(uint64_t through) {
  std::vector<Event> events;
  uint64_t from = through;
  auto report = [&](size_t loaded) {
    if (hooks_.cache_filled) hooks_.cache_filled(cache_.covered_from(), through, loaded);
  };
  // Close joins this thread before it takes conn_mu_ exclusively.
  absl::ReaderMutexLock lock(&conn_mu_);
  if (!CheckOpen().ok()) return report(0);
  {
    absl::StatusOr<StreamInfoPtr> info = GetInfo(nullptr, false);
    if (!info.ok() || (*info)->State.Msgs == 0) return report(0);
    const jsStreamState& st = (*info)->State;
    // Start where the newest events that fit begin, estimated from the
    // stream's average message plus the cache's cost of an event (Prepend
    // keeps only what fits anyway).
    const uint64_t avg = st.Bytes / st.Msgs + EventCache::Cost(Event());
    const uint64_t fit = jso_.read_cache_bytes / std::max<uint64_t>(1, avg);
    const uint64_t first = std::max<uint64_t>(1, st.FirstSeq);
    if (first > through || fit == 0) return report(0);
    from = std::max(first, through > fit ? through - fit + 1 : 1) - 1;
  }
  // At most one event per sequence: no regrowth (and no copy of what is
  // loaded so far) on the way.
  events.reserve(through - from);

  absl::StatusOr<natsSubscription*> subscribed = SubscribeOrdered(from + 1, 1 << 16, 64 << 20);
  if (!subscribed.ok()) return report(0);
  natsSubscription* sub = *subscribed;
  // Done at `through`, at the first sequence above it (appended since), or
  // when nothing is left (the last ones were removed meanwhile). A stream
  // that sends nothing for 5 s (unreachable), or Close: given up, nothing
  // loaded.
  constexpr int kTimeoutMs = 100;
  constexpr int kMaxIdle = 50;
  uint64_t last = from;
  bool complete = false;
  int idle = 0;
  while (!complete && !fill_stop_.load(std::memory_order_acquire) && idle < kMaxIdle) {
    natsMsg* raw = nullptr;
    const natsStatus s = natsSubscription_NextMsg(&raw, sub, kTimeoutMs);
    if (s != NATS_OK) {
      // The ordered consumer restarts itself after a gap or a slow-consumer drop.
      ++idle;
      continue;
    }
    idle = 0;
    MsgPtr m(raw);
    StreamPosition at;
    if (!PositionOf(m.get(), &at)) continue;  // not a stream message
    if (at.seq > through) {
      complete = true;
      break;
    }
    if (at.seq <= last) continue;  // redelivered after a consumer restart
    last = at.seq;
    Event e;
    if (Decode(m.get(), at.seq, at.store_nanos, &e)) events.push_back(std::move(e));
    complete = at.seq == through || at.pending == 0;
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  report(complete ? cache_.Prepend(std::move(events), from, through) : 0);
}

}  // namespace tailgate::store::internal

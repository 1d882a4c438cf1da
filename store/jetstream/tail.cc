#include "store/jetstream/log_impl.h"

namespace tailgate::store::internal {

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
    StreamPosition at;
    if (!PositionOf(m.get(), &at)) continue;  // not a stream message
    if (at.seq <= wm) continue;  // redelivered after a consumer reset
    Event e;
    if (!Decode(m.get(), at.seq, at.store_nanos, &e)) continue;
    wm = at.seq;
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


}  // namespace tailgate::store::internal

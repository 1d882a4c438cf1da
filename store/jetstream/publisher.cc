#include "store/jetstream/log_impl.h"

namespace tailgate::store::internal {

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


}  // namespace tailgate::store::internal

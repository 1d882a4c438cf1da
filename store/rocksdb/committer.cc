#include "store/rocksdb/log_impl.h"

#include "rocksdb/perf_level.h"

namespace tailgate::store::internal {

// ---------------------------------------------------------------------------
// Append and the committer

void RocksDbLog::AppendAsync(std::vector<EventInput> events, AppendCallback done) {
  AppendOp op;
  op.error = internal::ValidateAppend(events, options_.max_data_bytes);
  if (op.error.ok() && suspended_.load(std::memory_order_acquire)) op.error = DiskFullError();
  op.events = std::move(events);
  for (const EventInput& e : op.events) op.bytes += e.data.size();
  op.done = std::move(done);
  {
    absl::MutexLock lock(&queue_mu_);
    if (accepting_) {
      // Rejected appends queue too, so a caller's acks keep its order.
      queued_events_ += op.events.size();
      queue_.push_back(Item{std::move(op), nullptr});
      return;
    }
  }
  op.done(absl::UnavailableError("log is closed"));
}

absl::Status RocksDbLog::RunOnCommitter(std::function<absl::Status()> fn) {
  absl::Status result;
  absl::Notification finished;
  {
    absl::MutexLock lock(&queue_mu_);
    if (!accepting_) return absl::UnavailableError("log is closed");
    Item item;
    item.task = [&] {
      result = fn();
      finished.Notify();
    };
    queue_.push_back(std::move(item));
  }
  finished.WaitForNotification();
  return result;
}

absl::Status RocksDbLog::WriteBatch(rocksdb::WriteBatch* batch) {
  return FromRocksDb(db_->Write(write_options_, batch), "writing to the log");
}

absl::Status RocksDbLog::OnWriteFailure(const rocksdb::Status& s) {
  if (s.IsNoSpace()) {
    suspended_.store(true, std::memory_order_release);
    return DiskFullError();
  }
  return absl::InternalError("the event log failed to store the events (see the server's log)");
}

absl::Status RocksDbLog::Health() const {
  if (suspended_.load(std::memory_order_acquire)) {
    return absl::UnavailableError("the event log's disk is full (no space left on device)");
  }
  return absl::OkStatus();
}

void RocksDbLog::TryRecover() {
  absl::ReaderMutexLock lock(&db_mu_);
  if (db_ == nullptr) return;
  // OK once RocksDB has no background error left: its own recovery (the
  // SstFileManager polls free space) may already have done it.
  rocksdb::Status s = db_->Resume();
  if (s.ok()) suspended_.store(false, std::memory_order_release);
}

void RocksDbLog::CommitterLoop() {
  // RocksDB counts every key comparison into a thread-local perf context
  // unless told not to (its thread-local set-up alone ≈ 0.4 % of the publish
  // path); nothing here reads it.
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  const size_t max_events = std::max<size_t>(1, options_.max_commit_events);
  // Waiting to gather only pays when each commit waits for the disk.
  const bool gather = options_.durability == Durability::kFsync;
  size_t last_group = 0;
  std::vector<AppendOp> ops;
  for (;;) {
    std::function<void()> task;
    ops.clear();
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](RocksDbLog* self) { return !self->queue_.empty() || self->stop_committer_; },
          this));
      if (queue_.empty()) return;  // stopping and drained
      if (gather && !stop_committer_ && queued_events_ < last_group) {
        // A sync costs far more than a short wait: when the previous group
        // was bigger than what is queued, its appenders are likely about to
        // append again, so give them a moment to join this group.
        gather_target_ = last_group;
        queue_mu_.AwaitWithTimeout(
            absl::Condition(
                +[](RocksDbLog* self) {
                  return self->queued_events_ >= self->gather_target_ || self->stop_committer_;
                },
                this),
            kGatherWait);
      }
      if (queue_.front().task) {
        task = std::move(queue_.front().task);
        queue_.pop_front();
      } else {
        size_t n = 0;
        size_t bytes = 0;
        while (!queue_.empty() && !queue_.front().task) {
          const size_t k = queue_.front().append.events.size();
          const size_t b = queue_.front().append.bytes;
          if (!ops.empty() && (n + k > max_events || bytes + b > options_.max_commit_bytes)) break;
          n += k;
          bytes += b;
          ops.push_back(std::move(queue_.front().append));
          queue_.pop_front();
        }
        queued_events_ -= n;
        last_group = n;
      }
    }
    if (task) {
      task();
    } else {
      CommitAppends(ops);
    }
  }
}

void RocksDbLog::CommitAppends(std::vector<AppendOp>& ops) {
  const absl::Time now = hooks_.clock();
  AckGroup group;
  absl::flat_hash_map<std::string, DedupEntry> seen;  // dedup key -> original
  group.failure = LookUpKeys(ops, ToMicros(now - options_.dedup_window), &seen);

  StagedCommit staged(CommitBatchBytes(ops));
  staged.next = last_id_.load(std::memory_order_relaxed) + 1;
  group.results.resize(ops.size());
  if (group.failure.ok()) {
    for (size_t o = 0; o < ops.size(); ++o) {
      AppendOp& op = ops[o];
      if (!op.error.ok()) continue;
      op.error = CheckKeyReuse(op.events, seen, staged.committed);
      if (!op.error.ok()) continue;
      StageAppend(op, ToMicros(now), &seen, &staged, &group.results[o]);
    }
  }

  group.last = staged.next - 1;
  if (group.failure.ok() && !staged.committed.empty()) {
    group.failure = WriteCommit(&staged, group.last);
    // Metadata moves before the watermark: a reader that saw the watermark
    // also finds every topic committed below it.
    if (group.failure.ok()) PublishTopicMeta(staged.touched);
  }
  group.ops = std::move(ops);
  group.committed = std::move(staged.committed);
  Acknowledge(group);
}

size_t RocksDbLog::CommitBatchBytes(const std::vector<AppendOp>& ops) {
  // Sized up front: growing the batch by doubling copied it several times
  // per commit. Per event: the event and id index entries (key, value,
  // record headers) with room for a dedup entry's key.
  size_t batch_bytes = 256;
  for (const AppendOp& op : ops) {
    for (const EventInput& e : op.events) {
      batch_bytes += 96 + 3 * e.topic.size() + e.type.size() + e.data.size() +
                     2 * e.idempotency_key.size();
    }
  }
  return batch_bytes;
}

void RocksDbLog::StageAppend(AppendOp& op, int64_t now_micros,
                             absl::flat_hash_map<std::string, DedupEntry>* seen,
                             StagedCommit* c, std::vector<AppendResult>* results) {
  results->reserve(op.events.size());
  for (EventInput& e : op.events) {
    std::string dk;
    if (!e.idempotency_key.empty()) {
      dk = internal::DedupKey(e.topic, e.idempotency_key);
      auto it = seen->find(dk);
      if (it != seen->end()) {
        results->push_back(AppendResult{it->second.id, true});
        continue;
      }
    }
    const uint64_t id = c->next++;
    const int64_t micros =
        e.publish_time == absl::InfinitePast() ? now_micros : ToMicros(e.publish_time);
    if (!dk.empty()) {
      c->batch.Put(cf_dedup_, dk, internal::EncodeDedupValue({id, now_micros}));
      c->batch.Put(cf_dedup_time_, internal::DedupTimeKey(now_micros, dk), rocksdb::Slice());
      seen->emplace(std::move(dk), DedupEntry{id, c->committed.size()});
    }
    internal::EncodeEventValue(&c->value, micros, e.type, e.data);
    c->batch.Put(cf_events_, internal::EventKey(e.topic, id), c->value);
    internal::EncodeIdValue(&c->value, e.topic, e.data.size(), micros);
    c->batch.Put(cf_ids_, internal::IdKey(id), c->value);
    if (c->time_run && c->time_run->first != micros) c->EndTimeRun(cf_time_);
    c->time_run.emplace(micros, id);

    auto t = c->touched.find(e.topic);
    if (t == c->touched.end()) {
      TopicMeta m;
      {
        // Only this thread writes topics_, so the read needs no lock
        // against writers; readers hold it shared.
        absl::ReaderMutexLock lock(&meta_mu_);
        auto cur = topics_.find(e.topic);
        if (cur != topics_.end()) m = cur->second;
      }
      t = c->touched.emplace(e.topic, m).first;
    }
    TopicMeta& m = t->second;
    if (m.deleted) m = TopicMeta{0, 0, 0, 0, m.trimmed_through, false};
    if (m.count == 0) m.first_id = id;
    m.last_id = id;
    m.count++;
    m.bytes += e.data.size();
    results->push_back(AppendResult{id, false});
    c->committed.push_back(Event{id, std::move(e.topic), std::move(e.type), std::move(e.data),
                                 absl::FromUnixMicros(micros)});
  }
}

absl::Status RocksDbLog::WriteCommit(StagedCommit* c, uint64_t last) {
  c->EndTimeRun(cf_time_);
  for (const auto& [topic, m] : c->touched) {
    c->batch.Put(cf_meta_, internal::TopicMetaKey(topic), internal::EncodeTopicMeta(m));
  }
  std::string last_value;
  internal::PutFixed64(&last_value, last);
  c->batch.Put(cf_meta_, ToSlice(internal::kLastIdKey), last_value);
  const auto write_start = std::chrono::steady_clock::now();
  const rocksdb::Status written = db_->Write(write_options_, &c->batch);
  // Ids handed to a failed write are never reused: the write may have
  // reached the disk even though it reported an error.
  last_id_.store(last, std::memory_order_release);
  if (written.ok()) {
    if (options_.commit_observer) {
      options_.commit_observer(c->committed.size(),
                               absl::FromChrono(std::chrono::steady_clock::now() - write_start));
    }
    return absl::OkStatus();
  }
  // The observer (the server's log) gets the detail; publishers get
  // OnWriteFailure's message, which names no server path.
  if (options_.commit_error_observer) {
    options_.commit_error_observer(FromRocksDb(written, "writing to the log"));
  }
  return OnWriteFailure(written);
}

void RocksDbLog::PublishTopicMeta(const std::map<std::string, TopicMeta, std::less<>>& touched) {
  absl::MutexLock lock(&meta_mu_);
  for (auto& [topic, m] : touched) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) {
      topics_.emplace(topic, m);
    } else {
      if (!it->second.deleted) {  // a deleted topic's events were discounted already
        total_events_ -= it->second.count;
        total_bytes_ -= it->second.bytes;
      }
      it->second = m;
    }
    total_events_ += m.count;
    total_bytes_ += m.bytes;
  }
}

void RocksDbLog::Acknowledge(AckGroup& g) {
  if (g.failure.ok() && !g.committed.empty()) {
    watermark_.store(g.last, std::memory_order_release);
    listeners_.Notify(g.committed, g.last);
  }
  for (size_t o = 0; o < g.ops.size(); ++o) {
    AppendOp& op = g.ops[o];
    if (!op.error.ok()) {
      op.done(op.error);
    } else if (!g.failure.ok()) {
      op.done(g.failure);
    } else {
      op.done(std::move(g.results[o]));
    }
  }
}

uint64_t RocksDbLog::AddCommitListener(CommitListener listener) {
  return listeners_.Add(std::move(listener));
}

void RocksDbLog::RemoveCommitListener(uint64_t handle) {
  listeners_.Remove(handle, std::this_thread::get_id() == committer_id_);
}


}  // namespace tailgate::store::internal

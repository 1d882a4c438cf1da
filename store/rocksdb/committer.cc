#include "store/rocksdb/log_impl.h"

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
  const int64_t now_micros = ToMicros(now);
  const int64_t dedup_cutoff = ToMicros(now - options_.dedup_window);

  // Look up every idempotency key of the group in one MultiGet.
  std::vector<std::string> dedup_keys;
  for (const AppendOp& op : ops) {
    if (!op.error.ok()) continue;
    for (const EventInput& e : op.events) {
      if (!e.idempotency_key.empty()) dedup_keys.push_back(internal::DedupKey(e.topic, e.idempotency_key));
    }
  }
  absl::flat_hash_map<std::string, DedupEntry> seen;  // dedup key -> original
  absl::Status failure;
  if (!dedup_keys.empty()) {
    std::vector<rocksdb::Slice> slices(dedup_keys.begin(), dedup_keys.end());
    std::vector<rocksdb::PinnableSlice> values(slices.size());
    std::vector<rocksdb::Status> statuses(slices.size());
    db_->MultiGet(rocksdb::ReadOptions(), cf_dedup_, slices.size(), slices.data(), values.data(),
                  statuses.data());
    for (size_t i = 0; i < slices.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) {
        if (options_.commit_error_observer) {
          options_.commit_error_observer(FromRocksDb(statuses[i], "reading idempotency keys"));
        }
        failure = absl::InternalError(
            "the event log failed to read idempotency keys (see the server's log)");
        break;
      }
      internal::DedupValue v;
      if (internal::DecodeDedupValue(ToView(values[i]), &v) && v.seen_micros >= dedup_cutoff) {
        seen.emplace(dedup_keys[i], DedupEntry{v.id, kStored});
      }
    }
  }

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
  rocksdb::WriteBatch batch(batch_bytes);
  std::map<std::string, TopicMeta, std::less<>> touched;
  std::vector<Event> committed;
  std::vector<std::vector<AppendResult>> results(ops.size());
  uint64_t next = last_id_.load(std::memory_order_relaxed) + 1;
  std::string value;
  // The time index needs only the last id of each run of events with the
  // same publish time: CursorAtTime wants the greatest (time, id) below a
  // time, and a commit's events mostly share the commit's clock reading, so
  // this is about one entry per commit instead of one per event.
  std::optional<std::pair<int64_t, uint64_t>> time_run;  // (micros, last id)
  auto end_time_run = [&] {
    if (time_run) batch.Put(cf_time_, internal::TimeKey(time_run->first, time_run->second), rocksdb::Slice());
  };
  if (failure.ok()) {
    for (size_t o = 0; o < ops.size(); ++o) {
      AppendOp& op = ops[o];
      if (!op.error.ok()) continue;
      op.error = CheckKeyReuse(op.events, seen, committed);
      if (!op.error.ok()) continue;
      results[o].reserve(op.events.size());
      for (EventInput& e : op.events) {
        std::string dk;
        if (!e.idempotency_key.empty()) {
          dk = internal::DedupKey(e.topic, e.idempotency_key);
          auto it = seen.find(dk);
          if (it != seen.end()) {
            results[o].push_back(AppendResult{it->second.id, true});
            continue;
          }
        }
        const uint64_t id = next++;
        const int64_t micros =
            e.publish_time == absl::InfinitePast() ? now_micros : ToMicros(e.publish_time);
        if (!dk.empty()) {
          batch.Put(cf_dedup_, dk, internal::EncodeDedupValue({id, now_micros}));
          batch.Put(cf_dedup_time_, internal::DedupTimeKey(now_micros, dk), rocksdb::Slice());
          seen.emplace(std::move(dk), DedupEntry{id, committed.size()});
        }
        internal::EncodeEventValue(&value, micros, e.type, e.data);
        batch.Put(cf_events_, internal::EventKey(e.topic, id), value);
        internal::EncodeIdValue(&value, e.topic, e.data.size(), micros);
        batch.Put(cf_ids_, internal::IdKey(id), value);
        if (time_run && time_run->first != micros) end_time_run();
        time_run.emplace(micros, id);

        auto t = touched.find(e.topic);
        if (t == touched.end()) {
          TopicMeta m;
          {
            // Only this thread writes topics_, so the read needs no lock
            // against writers; readers hold it shared.
            absl::ReaderMutexLock lock(&meta_mu_);
            auto cur = topics_.find(e.topic);
            if (cur != topics_.end()) m = cur->second;
          }
          t = touched.emplace(e.topic, m).first;
        }
        TopicMeta& m = t->second;
        if (m.deleted) m = TopicMeta{0, 0, 0, 0, m.trimmed_through, false};
        if (m.count == 0) m.first_id = id;
        m.last_id = id;
        m.count++;
        m.bytes += e.data.size();
        results[o].push_back(AppendResult{id, false});
        committed.push_back(Event{id, std::move(e.topic), std::move(e.type), std::move(e.data),
                                  absl::FromUnixMicros(micros)});
      }
    }
  }

  const uint64_t last = next - 1;
  if (failure.ok() && !committed.empty()) {
    end_time_run();
    for (const auto& [topic, m] : touched) {
      batch.Put(cf_meta_, internal::TopicMetaKey(topic), internal::EncodeTopicMeta(m));
    }
    std::string last_value;
    internal::PutFixed64(&last_value, last);
    batch.Put(cf_meta_, ToSlice(internal::kLastIdKey), last_value);
    const auto write_start = std::chrono::steady_clock::now();
    const rocksdb::Status written = db_->Write(write_options_, &batch);
    if (written.ok()) {
      if (options_.commit_observer) {
        options_.commit_observer(committed.size(),
                                 absl::FromChrono(std::chrono::steady_clock::now() - write_start));
      }
    } else {
      // The observer (the server's log) gets the detail; publishers get
      // OnWriteFailure's message, which names no server path.
      if (options_.commit_error_observer) {
        options_.commit_error_observer(FromRocksDb(written, "writing to the log"));
      }
      failure = OnWriteFailure(written);
    }
    // Ids handed to a failed write are never reused: the write may have
    // reached the disk even though it reported an error.
    last_id_.store(last, std::memory_order_release);
  }

  if (failure.ok() && !committed.empty()) {
    // Metadata moves before the watermark: a reader that saw the watermark
    // also finds every topic committed below it.
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

  AckGroup group;
  group.ops = std::move(ops);
  group.results = std::move(results);
  group.committed = std::move(committed);
  group.last = last;
  group.failure = std::move(failure);
  Acknowledge(group);
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

#include "store/rocksdb/log_impl.h"
#include "store/absl_view.h"

namespace tailgate::store::internal {

// ---------------------------------------------------------------------------
// Retention, trim, delete

absl::Status RocksDbLog::TrimThroughLocked(const std::string& topic, uint64_t up_to_id,
                                           uint64_t* removed) {
  uint64_t first_id = 0;
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.count == 0) return absl::OkStatus();
    first_id = it->second.first_id;
  }
  const std::string limit = internal::EventKeyLimit(topic);
  rocksdb::Slice limit_slice(limit);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &limit_slice;
  // The iterator's implicit snapshot keeps showing what this trim plans to
  // delete; only appends (higher ids) can happen meanwhile.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_events_));
  it->Seek(internal::EventKey(topic, first_id));
  std::vector<Removed> chunk;
  uint64_t total_removed = 0;
  for (;;) {
    chunk.clear();
    uint64_t next_id = 0;
    for (; it->Valid(); it->Next()) {
      std::string_view t;
      uint64_t id = 0;
      if (!internal::ParseEventKey(ToView(it->key()), &t, &id)) {
        return absl::DataLossError("event index holds a malformed key");
      }
      if (id > up_to_id || chunk.size() >= kTrimChunk) {
        next_id = id;
        break;
      }
      internal::EventValue v;
      if (!internal::DecodeEventValue(ToView(it->value()), &v)) {
        return absl::DataLossError(absl::StrCat("event ", id, " is malformed"));
      }
      chunk.push_back(Removed{id, v.publish_micros, v.data.size()});
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), "reading events to trim");
    if (chunk.empty()) break;

    absl::Status s = RunOnCommitter([&]() -> absl::Status {
      rocksdb::WriteBatch batch;
      batch.DeleteRange(cf_events_, internal::EventKey(topic, chunk.front().id),
                        internal::EventKey(topic, chunk.back().id + 1));
      uint64_t bytes = 0;
      for (const Removed& r : chunk) {
        batch.Delete(cf_ids_, internal::IdKey(r.id));
        // Only the last event of a run with one publish time has an entry
        // (see CommitAppends); deleting the others' keys costs a tombstone.
        batch.Delete(cf_time_, internal::TimeKey(r.micros, r.id));
        bytes += r.bytes;
      }
      TopicMeta m;
      {
        absl::ReaderMutexLock lock(&meta_mu_);
        m = topics_.at(topic);
      }
      const TopicMeta before = m;
      m.count -= chunk.size();
      m.bytes -= bytes;
      m.trimmed_through = std::max(m.trimmed_through, chunk.back().id);
      if (m.count == 0) {
        m.first_id = 0;
      } else if (next_id != 0) {
        m.first_id = next_id;
      } else {
        // The plan saw no later event, yet appends added some since: the
        // first of those is the new first id.
        std::unique_ptr<rocksdb::Iterator> f(db_->NewIterator(ro, cf_events_));
        f->Seek(internal::EventKey(topic, chunk.back().id + 1));
        std::string_view t;
        uint64_t id = 0;
        if (f->Valid() && internal::ParseEventKey(ToView(f->key()), &t, &id)) m.first_id = id;
      }
      batch.Put(cf_meta_, internal::TopicMetaKey(topic), internal::EncodeTopicMeta(m));
      RaiseRemovedThrough(chunk.back().id);
      if (absl::Status w = WriteBatch(&batch); !w.ok()) return w;
      absl::MutexLock lock(&meta_mu_);
      topics_[topic] = m;
      total_events_ -= before.count - m.count;
      total_bytes_ -= before.bytes - m.bytes;
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    total_removed += chunk.size();
    if (next_id == 0 || next_id > up_to_id) break;
  }
  *removed += total_removed;
  if (total_removed >= kCompactAfterRemoved) {
    pending_compactions_.push_back(
        {cf_events_, internal::EventKeyPrefix(topic), internal::EventKey(topic, up_to_id)});
  }
  return absl::OkStatus();
}


absl::Status RocksDbLog::EnforceRetention() {
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  return EnforceRetentionLocked();
}

absl::Status RocksDbLog::EnforceRetentionLocked() {
  const absl::Time now = planner_->Now();
  if (absl::Status s = ExpireDedupLocked(ToMicros(now - options_.dedup_window)); !s.ok()) {
    return s;
  }

  std::vector<std::pair<std::string, TopicMeta>> topics;
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    for (const auto& [topic, m] : topics_) {
      if (!m.deleted && m.count > 0) topics.emplace_back(topic, m);
    }
  }
  uint64_t removed = 0;
  uint64_t max_removed_id = 0;
  for (const auto& [topic, m] : topics) {
    const TopicCut cut = planner_->Plan(topic, m.count, now);
    if (cut.empty()) continue;
    // The cut is a prefix of the topic: find its last event and trim
    // through it.
    const std::string limit = internal::EventKeyLimit(topic);
    rocksdb::Slice limit_slice(limit);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &limit_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_events_));
    uint64_t up_to = 0;
    uint64_t n = 0;
    for (it->Seek(internal::EventKey(topic, m.first_id)); it->Valid(); it->Next(), ++n) {
      std::string_view t;
      uint64_t id = 0;
      internal::EventValue v;
      if (!internal::ParseEventKey(ToView(it->key()), &t, &id) ||
          !internal::DecodeEventValue(ToView(it->value()), &v)) {
        return absl::DataLossError(absl::StrCat("event of topic \"", topic, "\" is malformed"));
      }
      if (!cut.Removes(n, absl::FromUnixMicros(v.publish_micros))) break;
      up_to = id;
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), "reading events for retention");
    if (up_to == 0) continue;
    if (absl::Status s = TrimThroughLocked(topic, up_to, &removed); !s.ok()) return s;
    max_removed_id = std::max(max_removed_id, up_to);
  }

  uint64_t total_bytes = 0;
  uint64_t min_first = std::numeric_limits<uint64_t>::max();
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    total_bytes = total_bytes_;
    for (const auto& [topic, m] : topics_) {
      if (!m.deleted && m.count > 0) min_first = std::min(min_first, m.first_id);
    }
  }
  if (const uint64_t excess = RetentionPlanner::ExcessBytes(total_bytes, options_.max_total_bytes);
      excess > 0) {
    // Oldest first across topics: walk the id index and trim each topic
    // through its last event inside the excess.
    std::map<std::string, uint64_t> through;
    uint64_t freed = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_ids_));
    for (it->Seek(internal::IdKey(min_first)); it->Valid() && freed < excess; it->Next()) {
      internal::IdValue v;
      if (!internal::DecodeIdValue(ToView(it->value()), &v)) {
        return absl::DataLossError("id index entry is malformed");
      }
      through[std::string(v.topic)] = internal::IdFromIdKey(ToView(it->key()));
      freed += v.data_bytes;
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), "reading the id index");
    for (const auto& [topic, up_to] : through) {
      if (absl::Status s = TrimThroughLocked(topic, up_to, &removed); !s.ok()) return s;
      max_removed_id = std::max(max_removed_id, up_to);
    }
  }
  if (removed >= kCompactAfterRemoved) {
    pending_compactions_.push_back({cf_ids_, "", internal::IdKey(max_removed_id)});
    pending_compactions_.push_back({cf_time_, "", internal::TimeKey(ToMicros(now), 0)});
  }
  return absl::OkStatus();
}

absl::Status RocksDbLog::TrimTopic(std::string_view topic, uint64_t up_to_id) {
  if (absl::Status s = ValidateTopic(topic); !s.ok()) return s;
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.deleted) {
      return absl::NotFoundError(absl::StrCat("topic \"", AbslView(topic), "\" does not exist"));
    }
  }
  uint64_t removed = 0;
  return TrimThroughLocked(std::string(topic), std::min(up_to_id, Watermark()), &removed);
}

absl::Status RocksDbLog::DeleteTopic(std::string_view topic_view) {
  if (absl::Status s = ValidateTopic(topic_view); !s.ok()) return s;
  const std::string topic(topic_view);
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.deleted) {
      return absl::NotFoundError(absl::StrCat("topic \"", AbslView(topic), "\" does not exist"));
    }
  }
  uint64_t removed = 0;
  if (absl::Status s = TrimThroughLocked(topic, std::numeric_limits<uint64_t>::max() - 1, &removed);
      !s.ok()) {
    return s;
  }
  pending_compactions_.push_back(
      {cf_events_, internal::EventKeyPrefix(topic), internal::EventKeyLimit(topic)});
  // Only the tombstone stays: it remembers how far the topic was removed so
  // that readers resuming from an old cursor learn their history is gone.
  return RunOnCommitter([&]() -> absl::Status {
    TopicMeta m;
    {
      absl::ReaderMutexLock lock(&meta_mu_);
      m = topics_.at(topic);
    }
    if (m.count > 0) return absl::OkStatus();  // appended to after the delete
    m.deleted = true;
    m.first_id = 0;
    m.trimmed_through = std::max(m.trimmed_through, m.last_id);
    rocksdb::WriteBatch batch;
    batch.Put(cf_meta_, internal::TopicMetaKey(topic), internal::EncodeTopicMeta(m));
    if (absl::Status w = WriteBatch(&batch); !w.ok()) return w;
    absl::MutexLock lock(&meta_mu_);
    topics_[topic] = m;
    return absl::OkStatus();
  });
}

void RocksDbLog::RunPendingCompactions() {
  std::vector<CompactRange> ranges;
  {
    absl::MutexLock maint(&maint_mu_);
    ranges.swap(pending_compactions_);
  }
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return;
  for (const CompactRange& r : ranges) {
    if (cancel_compaction_.load()) return;
    rocksdb::CompactRangeOptions o;
    o.canceled = &cancel_compaction_;
    rocksdb::Slice begin(r.begin);
    rocksdb::Slice end(r.end);
    // Best effort: RocksDB compacts these ranges eventually anyway.
    db_->CompactRange(o, r.cf, r.begin.empty() ? nullptr : &begin, r.end.empty() ? nullptr : &end)
        .PermitUncheckedError();
  }
}

absl::Duration RocksDbLog::RetentionStep() {
  if (suspended_.load(std::memory_order_acquire)) {
    TryRecover();
  }
  // Retention writes too: while suspended it waits until writes work again.
  if (!suspended_.load(std::memory_order_acquire) && absl::Now() >= next_retention_) {
    next_retention_ = absl::Now() + options_.retention_interval;
    // Errors here surface again on the next pass or in Stats; the loop must
    // keep running for retention to ever catch up.
    EnforceRetention().IgnoreError();
    RunPendingCompactions();
  }
  // While suspended, wake often enough to notice freed space quickly.
  const absl::Duration until_next = next_retention_ - absl::Now();
  return suspended_.load(std::memory_order_acquire) ? std::min(kRecoveryPoll, until_next)
                                                    : until_next;
}


}  // namespace tailgate::store::internal

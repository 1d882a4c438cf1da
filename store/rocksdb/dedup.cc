#include "store/rocksdb/log_impl.h"
#include "store/absl_view.h"

namespace tailgate::store::internal {

absl::Status RocksDbLog::LookUpKeys(const std::vector<AppendOp>& ops, int64_t cutoff_micros,
                                    absl::flat_hash_map<std::string, DedupEntry>* seen) {
  // Every idempotency key of the group in one MultiGet.
  std::vector<std::string> dedup_keys;
  for (const AppendOp& op : ops) {
    if (!op.error.ok()) continue;
    for (const EventInput& e : op.events) {
      if (!e.idempotency_key.empty()) dedup_keys.push_back(internal::DedupKey(e.topic, e.idempotency_key));
    }
  }
  if (dedup_keys.empty()) return absl::OkStatus();
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
      return absl::InternalError(
          "the event log failed to read idempotency keys (see the server's log)");
    }
    internal::DedupValue v;
    if (internal::DecodeDedupValue(ToView(values[i]), &v) && v.seen_micros >= cutoff_micros) {
      seen->emplace(dedup_keys[i], DedupEntry{v.id, kStored});
    }
  }
  return absl::OkStatus();
}

absl::Status RocksDbLog::CheckKeyReuse(const std::vector<EventInput>& events,
                                       const absl::flat_hash_map<std::string, DedupEntry>& seen,
                                       const std::vector<Event>& committed) {
  absl::flat_hash_map<std::string, const EventInput*> first_in_op;
  for (size_t i = 0; i < events.size(); ++i) {
    const EventInput& e = events[i];
    if (e.idempotency_key.empty()) continue;
    std::string dk = internal::DedupKey(e.topic, e.idempotency_key);
    std::string_view type, data;
    uint64_t id = 0;
    std::string stored;  // keeps a stored original's bytes alive
    if (auto it = seen.find(dk); it != seen.end()) {
      id = it->second.id;
      if (it->second.committed_index != kStored) {
        const Event& original = committed[it->second.committed_index];
        type = original.type;
        data = original.data;
      } else {
        rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_events_,
                                     internal::EventKey(e.topic, id), &stored);
        internal::EventValue v;
        // An original that retention already removed cannot be compared:
        // the key still names it, so the append is a duplicate as before.
        if (!s.ok() || !internal::DecodeEventValue(stored, &v)) continue;
        type = v.type;
        data = v.data;
      }
    } else if (auto [at, fresh] = first_in_op.emplace(std::move(dk), &e); !fresh) {
      type = at->second->type;
      data = at->second->data;
    } else {
      continue;
    }
    if (type != e.type || data != e.data) {
      return absl::AlreadyExistsError(absl::StrCat(
          events.size() > 1 ? absl::StrCat("events[", i, "]: ") : std::string(),
          "idempotency_key \"", AbslView(e.idempotency_key), "\" was already used on topic \"",
          AbslView(e.topic), "\"", id != 0 ? absl::StrCat(" (event id ", id, ")") : std::string(),
          " for an event with a different ", type != e.type ? "type" : "data",
          ": a retry must send the same event; a new event needs a new key"));
    }
  }
  return absl::OkStatus();
}


absl::Status RocksDbLog::ExpireDedupLocked(int64_t cutoff_micros) {
  const std::string upper = internal::DedupTimeKey(cutoff_micros, "");
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_dedup_time_));
  it->SeekToFirst();
  while (it->Valid()) {
    std::vector<std::string> time_keys;
    for (; it->Valid() && time_keys.size() < kTrimChunk; it->Next()) {
      time_keys.emplace_back(ToView(it->key()));
    }
    if (!it->status().ok()) break;
    absl::Status s = RunOnCommitter([&]() -> absl::Status {
      // Re-checked here, on the only writer: a key appended again since the
      // plan was made has a fresh record that must stay.
      std::vector<std::string> keys;
      rocksdb::WriteBatch batch;
      for (const std::string& tk : time_keys) {
        int64_t micros = 0;
        std::string_view dk;
        if (internal::ParseDedupTimeKey(tk, &micros, &dk)) keys.emplace_back(dk);
        batch.Delete(cf_dedup_time_, tk);
      }
      std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
      std::vector<rocksdb::PinnableSlice> values(slices.size());
      std::vector<rocksdb::Status> statuses(slices.size());
      db_->MultiGet(rocksdb::ReadOptions(), cf_dedup_, slices.size(), slices.data(),
                    values.data(), statuses.data());
      for (size_t i = 0; i < slices.size(); ++i) {
        internal::DedupValue v;
        if (statuses[i].ok() && internal::DecodeDedupValue(ToView(values[i]), &v) &&
            v.seen_micros < cutoff_micros) {
          batch.Delete(cf_dedup_, slices[i]);
        }
      }
      return WriteBatch(&batch);
    });
    if (!s.ok()) return s;
  }
  return FromRocksDb(it->status(), "reading idempotency keys to expire");
}


}  // namespace tailgate::store::internal

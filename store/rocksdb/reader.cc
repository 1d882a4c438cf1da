#include "store/rocksdb/log_impl.h"

namespace tailgate::store::internal {

// ---------------------------------------------------------------------------
// Reads

void RocksDbLog::MatchTopics(const TopicFilter& filter, uint64_t after_id,
                             std::vector<std::pair<std::string, TopicMeta>>* out,
                             bool* trimmed) {
  absl::flat_hash_set<std::string_view> added;
  absl::ReaderMutexLock lock(&meta_mu_);
  auto consider = [&](const std::string& topic, const TopicMeta& m) {
    if (m.trimmed_through > after_id) *trimmed = true;
    if (m.deleted || !added.insert(topic).second) return;
    out->emplace_back(topic, m);
  };
  for (const TopicPattern& p : filter.patterns()) {
    if (p.IsExact()) {
      auto it = topics_.find(p.str());
      if (it != topics_.end()) consider(it->first, it->second);
      continue;
    }
    const std::string_view prefix = p.LiteralPrefix();
    for (auto it = topics_.lower_bound(prefix);
         it != topics_.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;
         ++it) {
      if (p.Matches(it->first)) consider(it->first, it->second);
    }
  }
}

absl::StatusOr<ReadResult> RocksDbLog::Read(const ReadRequest& request) {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  // Load the watermark before taking the snapshot: everything at or below
  // it is then visible in the snapshot.
  const uint64_t wm = Watermark();
  const uint64_t bound = request.up_to_id == 0 ? wm : std::min(request.up_to_id, wm);
  ReadResult result;
  result.next_after_id = request.after_id;
  if (request.after_id >= bound) {
    result.reached_end = true;
    return result;
  }
  std::vector<std::pair<std::string, TopicMeta>> matched;
  MatchTopics(request.filter, request.after_id, &matched, &result.trimmed);
  std::vector<std::string> topics;
  for (auto& [topic, m] : matched) {
    // Topics with nothing in (after_id, bound] need no iterator.
    if (m.count > 0 && m.last_id > request.after_id && m.first_id <= bound) {
      topics.push_back(std::move(topic));
    }
  }
  if (topics.empty()) {
    result.reached_end = true;
    result.next_after_id = bound;
    return result;
  }
  rocksdb::ManagedSnapshot snap(db_.get());
  absl::Status s = topics.size() <= kMaxMergeTopics
                       ? MergeRead(topics, request, bound, snap.snapshot(), &result)
                       : ScanRead(topics, request, bound, snap.snapshot(), &result);
  if (!s.ok()) return s;
  return result;
}

int64_t RocksDbLog::ExpiryCutoff(std::string_view topic, absl::Time now) const {
  const absl::Duration max_age = planner_->rules().For(topic).max_age;
  if (max_age <= absl::ZeroDuration()) return std::numeric_limits<int64_t>::min();
  return ToMicros(now - max_age);
}

absl::Status RocksDbLog::MergeRead(const std::vector<std::string>& topics, const ReadRequest& req,
                                   uint64_t bound, const rocksdb::Snapshot* snap,
                                   ReadResult* result) {
  const absl::Time now = hooks_.clock();
  struct Cursor {
    std::string topic;
    int64_t cutoff;
    std::string upper;
    rocksdb::Slice upper_slice;
    std::unique_ptr<rocksdb::Iterator> it;
    uint64_t id = 0;
  };
  std::vector<std::unique_ptr<Cursor>> cursors;
  cursors.reserve(topics.size());
  auto cmp = [](const Cursor* a, const Cursor* b) { return a->id > b->id; };
  std::priority_queue<Cursor*, std::vector<Cursor*>, decltype(cmp)> heap(cmp);
  auto load_id = [](Cursor* c) {
    std::string_view key = ToView(c->it->key());
    c->id = internal::GetBigEndian64(key.data() + key.size() - 8);
  };
  for (const std::string& topic : topics) {
    auto c = std::make_unique<Cursor>();
    c->topic = topic;
    c->cutoff = ExpiryCutoff(topic, now);
    c->upper = internal::EventKey(topic, bound + 1);
    c->upper_slice = c->upper;
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    ro.iterate_upper_bound = &c->upper_slice;
    ro.adaptive_readahead = true;
    c->it.reset(db_->NewIterator(ro, cf_events_));
    c->it->Seek(internal::EventKey(topic, req.after_id + 1));
    if (c->it->Valid()) {
      load_id(c.get());
      heap.push(c.get());
    } else if (!c->it->status().ok()) {
      return FromRocksDb(c->it->status(), "reading events");
    }
    cursors.push_back(std::move(c));
  }

  const size_t max_events = std::max<size_t>(1, req.max_events);
  size_t bytes = 0;
  std::vector<Event>& out = result->events;
  out.reserve(std::min<size_t>(max_events, 1024));
  while (!heap.empty()) {
    Cursor* c = heap.top();
    internal::EventValue v;
    if (!internal::DecodeEventValue(ToView(c->it->value()), &v)) {
      return absl::DataLossError(
          absl::StrCat("event ", c->id, " of topic \"", c->topic, "\" is malformed"));
    }
    const size_t size = v.data.size() + c->topic.size();
    const bool expired = v.publish_micros < c->cutoff;
    if (!expired &&
        (out.size() >= max_events || (!out.empty() && bytes + size > req.max_bytes))) {
      result->next_after_id = out.back().id;
      return absl::OkStatus();
    }
    heap.pop();
    if (expired) {
      // Past its age limit, not yet deleted by retention: as good as removed.
      result->trimmed = true;
    } else {
      bytes += size;
      Event& e = out.emplace_back();
      e.id = c->id;
      e.topic = c->topic;
      e.type.assign(v.type);
      e.data.assign(v.data);
      e.publish_time = absl::FromUnixMicros(v.publish_micros);
    }
    c->it->Next();
    if (c->it->Valid()) {
      load_id(c);
      heap.push(c);
    } else if (!c->it->status().ok()) {
      return FromRocksDb(c->it->status(), "reading events");
    }
  }
  result->reached_end = true;
  result->next_after_id = bound;
  return absl::OkStatus();
}

absl::Status RocksDbLog::ScanRead(const std::vector<std::string>& topics, const ReadRequest& req,
                                  uint64_t bound, const rocksdb::Snapshot* snap,
                                  ReadResult* result) {
  const absl::Time now = hooks_.clock();
  absl::flat_hash_map<std::string_view, int64_t> wanted;  // topic -> expiry cutoff
  for (const std::string& t : topics) wanted.emplace(t, ExpiryCutoff(t, now));
  std::string upper = internal::IdKey(bound + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.iterate_upper_bound = &upper_slice;
  ro.adaptive_readahead = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_ids_));

  const size_t max_events = std::max<size_t>(1, req.max_events);
  std::vector<std::string> keys;
  size_t bytes = 0;
  size_t scanned = 0;
  bool stopped = false;
  uint64_t last_scanned = req.after_id;
  for (it->Seek(internal::IdKey(req.after_id + 1)); it->Valid(); it->Next()) {
    const uint64_t id = internal::IdFromIdKey(ToView(it->key()));
    internal::IdValue v;
    if (!internal::DecodeIdValue(ToView(it->value()), &v)) {
      return absl::DataLossError(absl::StrCat("id index entry ", id, " is malformed"));
    }
    auto w = wanted.find(v.topic);
    if (w != wanted.end() && v.publish_micros < w->second) {
      result->trimmed = true;  // Past its age limit (see MergeRead).
    } else if (w != wanted.end()) {
      const size_t size = v.data_bytes + v.topic.size();
      if (keys.size() >= max_events || (!keys.empty() && bytes + size > req.max_bytes)) {
        stopped = true;
        break;
      }
      bytes += size;
      keys.push_back(internal::EventKey(v.topic, id));
    }
    last_scanned = id;
    if (++scanned >= kMaxScannedPerRead) {
      it->Next();
      stopped = it->Valid();
      break;
    }
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "reading the id index");

  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(slices.size());
  std::vector<rocksdb::Status> statuses(slices.size());
  rocksdb::ReadOptions get_ro;
  get_ro.snapshot = snap;
  if (!slices.empty()) {
    db_->MultiGet(get_ro, cf_events_, slices.size(), slices.data(), values.data(),
                  statuses.data(), /*sorted_input=*/false);
  }
  result->events.reserve(slices.size());
  for (size_t i = 0; i < slices.size(); ++i) {
    if (!statuses[i].ok()) return FromRocksDb(statuses[i], "reading events");
    std::string_view topic;
    uint64_t id = 0;
    internal::ParseEventKey(keys[i], &topic, &id);
    internal::EventValue v;
    if (!internal::DecodeEventValue(ToView(values[i]), &v)) {
      return absl::DataLossError(absl::StrCat("event ", id, " is malformed"));
    }
    Event& e = result->events.emplace_back();
    e.id = id;
    e.topic.assign(topic);
    e.type.assign(v.type);
    e.data.assign(v.data);
    e.publish_time = absl::FromUnixMicros(v.publish_micros);
  }
  if (stopped) {
    result->next_after_id = last_scanned;
  } else {
    result->reached_end = true;
    result->next_after_id = bound;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> RocksDbLog::CursorAtTime(absl::Time t) {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  const uint64_t wm = Watermark();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_time_));
  // The time index is ordered by (publish time, id); the entry just before
  // (t, 0) is the latest event published before t.
  it->Seek(internal::TimeKey(ToMicros(t), 0));
  if (it->Valid()) {
    it->Prev();
  } else if (it->status().ok()) {
    it->SeekToLast();
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "reading the time index");
  if (!it->Valid()) return uint64_t{0};
  int64_t micros = 0;
  uint64_t id = 0;
  if (!internal::ParseTimeKey(ToView(it->key()), &micros, &id)) {
    return absl::DataLossError("time index holds a malformed key");
  }
  return std::min(id, wm);
}

absl::StatusOr<uint64_t> RocksDbLog::EarliestCursor(const TopicFilter& filter) {
  const uint64_t wm = Watermark();
  std::vector<std::pair<std::string, TopicMeta>> matched;
  bool trimmed = false;
  MatchTopics(filter, 0, &matched, &trimmed);
  uint64_t cursor = wm;
  const absl::Time now = hooks_.clock();
  for (const auto& [topic, m] : matched) {
    if (m.count == 0) continue;
    uint64_t first = m.first_id - 1;
    // Skip what is past the topic's age limit but not yet deleted, so that
    // "everything retained" does not start with a `trimmed` reset.
    if (const int64_t cutoff = ExpiryCutoff(topic, now);
        cutoff != std::numeric_limits<int64_t>::min()) {
      absl::StatusOr<uint64_t> at = CursorAtTime(absl::FromUnixMicros(cutoff));
      if (!at.ok()) return at.status();
      first = std::max(first, std::min(*at, m.last_id));
    }
    cursor = std::min(cursor, first);
  }
  return cursor;
}

absl::StatusOr<uint64_t> RocksDbLog::CursorBeforeLast(const TopicFilter& filter, size_t n,
                                                      uint64_t up_to_id) {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  const uint64_t wm = Watermark();
  const uint64_t bound = up_to_id == 0 ? wm : std::min(up_to_id, wm);
  std::vector<std::pair<std::string, TopicMeta>> matched;
  bool trimmed = false;
  MatchTopics(filter, 0, &matched, &trimmed);
  std::vector<std::string> topics;
  for (auto& [topic, m] : matched) {
    if (m.count > 0 && m.first_id <= bound) topics.push_back(std::move(topic));
  }
  if (topics.empty() || n == 0) return bound;
  rocksdb::ManagedSnapshot snap(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.snapshot();
  uint64_t oldest = bound + 1;  // The oldest id taken so far.
  size_t taken = 0;
  if (topics.size() <= kMaxMergeTopics) {
    // One reverse iterator per topic, merged newest first: n keys are read
    // (plus one per topic), values never.
    struct Back {
      std::string lower;
      rocksdb::Slice lower_slice;
      std::unique_ptr<rocksdb::Iterator> it;
      uint64_t id = 0;
    };
    std::vector<std::unique_ptr<Back>> backs;
    auto cmp = [](const Back* a, const Back* b) { return a->id < b->id; };
    std::priority_queue<Back*, std::vector<Back*>, decltype(cmp)> heap(cmp);
    auto load = [&](Back* b) -> absl::Status {
      if (!b->it->Valid()) {
        return b->it->status().ok() ? absl::OkStatus()
                                    : FromRocksDb(b->it->status(), "reading events");
      }
      std::string_view key = ToView(b->it->key());
      b->id = internal::GetBigEndian64(key.data() + key.size() - 8);
      heap.push(b);
      return absl::OkStatus();
    };
    for (const std::string& topic : topics) {
      auto b = std::make_unique<Back>();
      b->lower = internal::EventKeyPrefix(topic);
      b->lower_slice = b->lower;
      rocksdb::ReadOptions bro = ro;
      bro.iterate_lower_bound = &b->lower_slice;
      b->it.reset(db_->NewIterator(bro, cf_events_));
      b->it->SeekForPrev(internal::EventKey(topic, bound));
      if (absl::Status s = load(b.get()); !s.ok()) return s;
      backs.push_back(std::move(b));
    }
    while (taken < n && !heap.empty()) {
      Back* b = heap.top();
      heap.pop();
      oldest = b->id;
      ++taken;
      b->it->Prev();
      if (absl::Status s = load(b); !s.ok()) return s;
    }
  } else {
    // Many topics: the id-ordered index, backwards, skipping other topics.
    absl::flat_hash_set<std::string_view> wanted(topics.begin(), topics.end());
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_ids_));
    for (it->SeekForPrev(internal::IdKey(bound)); it->Valid() && taken < n; it->Prev()) {
      const uint64_t id = internal::IdFromIdKey(ToView(it->key()));
      internal::IdValue v;
      if (!internal::DecodeIdValue(ToView(it->value()), &v)) {
        return absl::DataLossError(absl::StrCat("id index entry ", id, " is malformed"));
      }
      if (!wanted.contains(v.topic)) continue;
      oldest = id;
      ++taken;
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), "reading the id index");
  }
  return taken == 0 ? bound : oldest - 1;
}

absl::StatusOr<std::vector<TopicInfo>> RocksDbLog::ListTopics(const TopicFilter& filter) {
  std::vector<std::pair<std::string, TopicMeta>> matched;
  bool trimmed = false;
  MatchTopics(filter, 0, &matched, &trimmed);
  std::sort(matched.begin(), matched.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<TopicInfo> out;
  out.reserve(matched.size());
  for (auto& [topic, m] : matched) {
    out.push_back(TopicInfo{std::move(topic), m.first_id, m.last_id, m.count, m.bytes});
  }
  return out;
}

absl::StatusOr<LogStats> RocksDbLog::Stats() {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  LogStats stats;
  stats.watermark = Watermark();
  {
    absl::ReaderMutexLock lock(&meta_mu_);
    stats.events = total_events_;
    stats.bytes = total_bytes_;
    for (const auto& [topic, m] : topics_) {
      if (!m.deleted) stats.topics++;
    }
  }
  for (rocksdb::ColumnFamilyHandle* cf : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(cf, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) {
      stats.disk_bytes += v;
    }
  }
  rocksdb::VectorLogPtr wals;
  if (db_->GetSortedWalFiles(wals).ok()) {
    for (const auto& w : wals) stats.disk_bytes += w->SizeFileBytes();
  }
  return stats;
}


}  // namespace tailgate::store::internal

#include "store/rocksdb/log_impl.h"
#include "store/absl_view.h"

namespace tailgate::store::internal {

// ---------------------------------------------------------------------------
// Open

absl::Status RocksDbLog::Open() {
  if (options_.data_dir.empty()) return absl::InvalidArgumentError("data_dir: must be set");
  absl::StatusOr<internal::RetentionRules> rules = internal::RetentionRules::Parse(options_);
  if (!rules.ok()) return rules.status();
  shortest_max_age_ = rules->ShortestMaxAge();
  planner_.emplace(*std::move(rules), hooks_.clock);
  switch (options_.durability) {
    case Durability::kFsync:
      // Syncing inside the write (rather than a separate SyncWAL on another
      // thread) measured faster: while the committer waits on the disk,
      // appenders refill the queue, so the next group is a large one.
      write_options_.sync = true;
      break;
    case Durability::kWal:
      write_options_.sync = false;
      break;
    case Durability::kNone:
      write_options_.disableWAL = true;
      break;
  }
  if (absl::Status s = OpenDb(); !s.ok()) return s;
  if (absl::Status s = LoadState(); !s.ok()) return s;
  StartThreads();
  return absl::OkStatus();
}

absl::Status RocksDbLog::OpenDb() {
  const std::string& dir = options_.data_dir;
  bool is_dir = false;
  bool fresh = true;
  if (DirExists(dir, &is_dir)) {
    if (!is_dir) {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir, " is not a directory"));
    }
    std::error_code ec;
    bool has_files = std::filesystem::directory_iterator(dir, ec) !=
                     std::filesystem::directory_iterator();
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir, " cannot be listed: ", ec.message()));
    }
    bool has_current = std::filesystem::exists(dir + "/CURRENT", ec);
    if (has_files && !has_current) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", dir, " is not a tailgate log: it holds files but no RocksDB database"));
    }
    fresh = !has_current;
  }

  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = fresh;
  db_opts.create_missing_column_families = fresh;
  db_opts.max_background_jobs = 2;
  db_opts.bytes_per_sync = 1 << 20;
  // Several column families share the WAL; a rarely written one would pin
  // old WAL files forever without this cap.
  db_opts.max_total_wal_size = uint64_t{256} << 20;
  db_opts.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // No LOG file in the data dir: see rocksdb/diagnostics.h.
  db_opts.info_log = internal::NewDiagnosticsLogger(options_.diagnostics, db_opts.info_log_level);

  std::vector<std::string> wanted = {rocksdb::kDefaultColumnFamilyName, kEventsCf, kIdsCf,
                                     kTimeCf, kDedupCf, kDedupTimeCf};
  if (!fresh) {
    std::vector<std::string> existing;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_opts, dir, &existing);
    if (!s.ok()) {
      absl::Status st = FromRocksDb(s, absl::StrCat("reading data dir ", dir));
      if (st.code() == absl::StatusCode::kDataLoss) return st;
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir, " is not a readable tailgate log: ", st.message()));
    }
    for (const std::string& name : wanted) {
      if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "data dir ", dir, " is not a tailgate log: column family \"", name, "\" is missing"));
      }
    }
  }

  auto cache = rocksdb::NewLRUCache(64 << 20);
  auto cf_options = [&](bool point_lookups, size_t write_buffer) {
    rocksdb::ColumnFamilyOptions o;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    if (point_lookups) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    o.write_buffer_size = write_buffer;
    o.max_write_buffer_number = 4;
    o.level_compaction_dynamic_level_bytes = true;
    return o;
  };
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cf_options(true, 4 << 20)},
      {kEventsCf, cf_options(true, 64 << 20)},
      {kIdsCf, cf_options(false, 16 << 20)},
      {kTimeCf, cf_options(false, 8 << 20)},
      {kDedupCf, cf_options(true, 8 << 20)},
      {kDedupTimeCf, cf_options(false, 4 << 20)},
  };
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_opts, dir, cfs, &handles_, &raw);
  if (s.IsNoSpace()) {
    // Opening replays the write-ahead log into new table files: it needs room.
    return absl::ResourceExhaustedError(
        "the disk is full (no space left on device); opening the log needs free space "
        "(at least the size of its write-ahead log): free some and start again");
  }
  if (!s.ok()) {
    absl::Status st = FromRocksDb(s, absl::StrCat("opening data dir ", dir));
    if (st.code() == absl::StatusCode::kUnavailable) {
      return absl::UnavailableError(absl::StrCat(
          "data dir ", dir, " is locked by another process (is another tailgate running?): ",
          s.ToString()));
    }
    return st;
  }
  db_.reset(raw);
  cf_meta_ = handles_[0];
  cf_events_ = handles_[1];
  cf_ids_ = handles_[2];
  cf_time_ = handles_[3];
  cf_dedup_ = handles_[4];
  cf_dedup_time_ = handles_[5];

  std::string marker;
  s = db_->Get(rocksdb::ReadOptions(), cf_meta_, ToSlice(internal::kFormatKey), &marker);
  if (s.IsNotFound()) {
    // A dir we created but crashed before marking is still empty: finish
    // creating it. Anything else without the marker belongs to someone else.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_meta_));
    it->SeekToFirst();
    std::unique_ptr<rocksdb::Iterator> it2(db_->NewIterator(rocksdb::ReadOptions(), cf_events_));
    it2->SeekToFirst();
    if (it->Valid() || it2->Valid()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", dir, " is not a tailgate log: RocksDB database without the \"",
          AbslView(internal::kFormatKey), "\" marker"));
    }
    rocksdb::WriteBatch batch;
    batch.Put(cf_meta_, ToSlice(internal::kFormatKey), ToSlice(internal::kFormatValue));
    // A new log's ids start above its creation time in microseconds, for the
    // reason ContinueIdsAfterRestore gives: if this dir replaces a lost or
    // wiped one, a client holding one of its ids gets `unknown_id` instead
    // of resuming after it and silently skipping the new events.
    const uint64_t before_first =
        options_.first_id_from_clock
            ? static_cast<uint64_t>(std::max<int64_t>(0, ToMicros(hooks_.clock())))
            : 0;
    std::string first;
    internal::PutFixed64(&first, before_first);
    batch.Put(cf_meta_, ToSlice(internal::kLastIdKey), first);
    batch.Put(cf_meta_, ToSlice(internal::kIdFloorKey), first);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db_->Write(wo, &batch);
    if (!s.ok()) return FromRocksDb(s, "initializing data dir");
  } else if (!s.ok()) {
    return FromRocksDb(s, "reading format marker");
  } else if (marker != internal::kFormatValue) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", dir, " has unsupported format \"", marker, "\" (want \"",
                     AbslView(internal::kFormatValue), "\")"));
  }
  return absl::OkStatus();
}

absl::Status RocksDbLog::LoadState() {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_meta_, ToSlice(internal::kLastIdKey), &value);
  if (!s.ok()) return FromRocksDb(s, "reading last id");
  if (value.size() != 8) return absl::DataLossError("last id record is malformed");
  uint64_t last = internal::GetFixed64(value.data());
  s = db_->Get(rocksdb::ReadOptions(), cf_meta_, ToSlice(internal::kIdFloorKey), &value);
  if (s.ok()) {
    if (value.size() != 8) return absl::DataLossError("id floor record is malformed");
    id_floor_ = internal::GetFixed64(value.data());
  } else if (!s.IsNotFound()) {
    return FromRocksDb(s, "reading the id floor");
  }

  // The persisted last id is authoritative (written with every commit); the
  // index check only guards against a hand-edited or damaged meta record.
  std::unique_ptr<rocksdb::Iterator> ids(db_->NewIterator(rocksdb::ReadOptions(), cf_ids_));
  ids->SeekToLast();
  if (ids->Valid()) {
    if (ids->key().size() != 8) return absl::DataLossError("id index holds a malformed key");
    last = std::max(last, internal::IdFromIdKey(ToView(ids->key())));
  }
  if (!ids->status().ok()) return FromRocksDb(ids->status(), "reading id index");

  absl::MutexLock lock(&meta_mu_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_meta_));
  for (it->Seek(ToSlice(internal::kTopicMetaPrefix));
       it->Valid() && it->key().starts_with(ToSlice(internal::kTopicMetaPrefix)); it->Next()) {
    TopicMeta m;
    std::string_view key = ToView(it->key());
    key.remove_prefix(internal::kTopicMetaPrefix.size());
    if (!internal::DecodeTopicMeta(ToView(it->value()), &m)) {
      return absl::DataLossError(absl::StrCat("metadata of topic \"", AbslView(key), "\" is malformed"));
    }
    if (!m.deleted) {
      total_events_ += m.count;
      total_bytes_ += m.bytes;
    }
    last = std::max(last, m.last_id);
    topics_.emplace(std::string(key), m);
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "reading topic metadata");
  if (absl::Status s = ContinueIdsAfterRestore(&last); !s.ok()) return s;
  last_id_.store(last);
  watermark_.store(last);
  return absl::OkStatus();
}

void RocksDbLog::StartThreads() {
  {
    absl::MutexLock lock(&queue_mu_);
    accepting_ = true;
  }
  committer_ = std::thread([this] { CommitterLoop(); });
  committer_id_ = committer_.get_id();
  next_retention_ = absl::Now() + options_.retention_interval;
  retention_ = std::make_unique<BackgroundLoop>([this] { return RetentionStep(); },
                                                options_.retention_interval);
}


// ---------------------------------------------------------------------------
// Close

void RocksDbLog::Close() {
  absl::MutexLock close_lock(&close_mu_);
  if (closed_) return;
  closed_ = true;
  {
    absl::MutexLock lock(&queue_mu_);
    // New appends fail fast; those already queued still commit.
    accepting_ = false;
  }
  if (retention_ != nullptr) {
    cancel_compaction_.store(true);
    retention_->Stop();
  }
  if (committer_.joinable()) {
    {
      absl::MutexLock lock(&queue_mu_);
      stop_committer_ = true;
    }
    committer_.join();
  }

  absl::MutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return;
  if (options_.durability == Durability::kNone) {
    // Without a WAL only flushed memtables survive.
    db_->Flush(rocksdb::FlushOptions(), handles_).PermitUncheckedError();
  } else if (options_.durability == Durability::kWal) {
    db_->FlushWAL(/*sync=*/true).PermitUncheckedError();
  }
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  handles_.clear();
  db_->Close().PermitUncheckedError();
  db_.reset();
}


}  // namespace tailgate::store::internal

namespace tailgate::store {

absl::StatusOr<std::unique_ptr<Log>> OpenRocksDbLogWithHooks(const Options& options,
                                                             RocksDbLogHooks hooks) {
  auto log = std::make_unique<internal::RocksDbLog>(options, std::move(hooks));
  if (absl::Status s = log->Open(); !s.ok()) return s;
  return std::unique_ptr<Log>(std::move(log));
}

absl::StatusOr<std::unique_ptr<Log>> OpenRocksDbLog(const Options& options) {
  return OpenRocksDbLogWithHooks(options, RocksDbLogHooks());
}


}  // namespace tailgate::store

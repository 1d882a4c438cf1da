#include "store/rocksdb/log_impl.h"

namespace tailgate::store::internal {

// A checkpoint is a past state of a log that went on handing out ids. Opened
// as a log, it would hand the same ids out again for other events, and a
// client holding one of them would resume after it and miss the new events
// up to it. So the first open of a checkpoint continues from the current
// time in microseconds: no log hands out ids faster than one per
// microsecond (a few hundred thousand per second at most), and every log's
// ids start at 1 or at such a jump, so this is above any id the old log
// issued. Clients holding a lost id then resume with the new events (none
// of which they can have seen), without a reset.
absl::Status RocksDbLog::ContinueIdsAfterRestore(uint64_t* last) {
  const std::string marker = internal::RestoreMarkerPath(options_.data_dir);
  std::error_code ec;
  if (!std::filesystem::exists(marker, ec)) {
    if (ec) return absl::InternalError(absl::StrCat("checking ", marker, ": ", ec.message()));
    return absl::OkStatus();
  }
  *last = std::max(*last, static_cast<uint64_t>(std::max<int64_t>(0, ToMicros(hooks_.clock()))));
  std::string value;
  internal::PutFixed64(&value, *last);
  rocksdb::WriteOptions wo;
  wo.sync = true;  // Before the marker goes: a crash in between only jumps again.
  rocksdb::Status s = db_->Put(wo, cf_meta_, ToSlice(internal::kLastIdKey), value);
  if (!s.ok()) return FromRocksDb(s, "continuing ids after a restore");
  if (!std::filesystem::remove(marker, ec) && ec) {
    return absl::InternalError(absl::StrCat("removing ", marker, ": ", ec.message()));
  }
  return absl::OkStatus();
}


absl::Status RocksDbLog::Checkpoint(const std::string& dir) {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("log is closed");
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return FromRocksDb(s, "creating checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  if (absl::Status st =
          FromRocksDb(cp->CreateCheckpoint(dir), absl::StrCat("writing checkpoint to ", dir));
      !st.ok()) {
    return st;
  }
  // Read by ContinueIdsAfterRestore when the checkpoint is opened.
  const std::string marker = internal::RestoreMarkerPath(dir);
  FILE* f = std::fopen(marker.c_str(), "w");
  if (f == nullptr) {
    return absl::InternalError(
        absl::StrCat("writing ", marker, ": ", std::strerror(errno)));
  }
  const bool written =
      std::fputs("A tailgate checkpoint: opened as a log, its ids continue from the current time "
                 "in microseconds, above any id the log it was taken from handed out.\n",
                 f) >= 0;
  if (std::fclose(f) != 0 || !written) {
    return absl::InternalError(absl::StrCat("writing ", marker, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}


}  // namespace tailgate::store::internal

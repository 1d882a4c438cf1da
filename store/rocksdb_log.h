// The RocksDB implementation of Log. Internal to store/: the rest of tailgate
// uses OpenRocksDbLog from store/log.h and never sees RocksDB types.
#ifndef TAILGATE_STORE_ROCKSDB_LOG_H_
#define TAILGATE_STORE_ROCKSDB_LOG_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/log.h"

namespace rocksdb {
class Status;
}  // namespace rocksdb

namespace tailgate::store {

// The one mapping from rocksdb::Status to absl::Status. `what` says which
// operation failed; it prefixes the message.
absl::Status FromRocksDb(const rocksdb::Status& s, std::string_view what);

// Hooks that tests use to control time; production passes defaults.
struct RocksDbLogHooks {
  // Commit time (default publish_time), dedup window and max-age reference.
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

absl::StatusOr<std::unique_ptr<Log>> OpenRocksDbLogWithHooks(const Options& options,
                                                             RocksDbLogHooks hooks);

}  // namespace tailgate::store

#endif  // TAILGATE_STORE_ROCKSDB_LOG_H_

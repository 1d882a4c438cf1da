// Routes RocksDB's diagnostics ("info log") to a callback instead of the LOG
// file RocksDB writes in the data dir by default.
//
// Why: Debian's librocksdb is built with assertions on, and its file logger
// asserts when a write fails after an earlier failure. On a full disk the
// background error recovery logs through it and the process aborts. A logger
// that writes no file cannot fail that way, and the lines land where the
// operator reads the gateway's own.
//
// Thread-safety: RocksDB calls Logv from any of its threads; the sink must be
// thread-safe and must not block.
#ifndef TAILGATE_STORE_ROCKSDB_DIAGNOSTICS_H_
#define TAILGATE_STORE_ROCKSDB_DIAGNOSTICS_H_

#include <cstdarg>
#include <memory>

#include "rocksdb/env.h"
#include "store/log.h"

namespace tailgate::store::internal {

// Lines below `min_level` are dropped before formatting. With no sink,
// warnings and errors go to stderr.
std::shared_ptr<rocksdb::Logger> NewDiagnosticsLogger(DiagnosticSink sink,
                                                  rocksdb::InfoLogLevel min_level);

// The severity a RocksDB level maps to (DEBUG/INFO -> kInfo, WARN -> kWarning,
// ERROR and above -> kError).
DiagnosticSeverity SeverityOf(rocksdb::InfoLogLevel level);

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_ROCKSDB_DIAGNOSTICS_H_

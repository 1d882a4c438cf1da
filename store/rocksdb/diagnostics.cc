#include "store/rocksdb/diagnostics.h"

#include <cstdio>
#include <string_view>
#include <utility>

namespace tailgate::store::internal {

namespace {

class DiagnosticsLogger final : public rocksdb::Logger {
 public:
  DiagnosticsLogger(DiagnosticSink sink, rocksdb::InfoLogLevel min_level)
      : rocksdb::Logger(min_level), sink_(std::move(sink)) {}

  // Lines without a level are informational (RocksDB's option dumps).
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    // RocksDB's lines are short; a longer one is cut rather than allocated.
    char buf[1024];
    const int n = std::vsnprintf(buf, sizeof(buf), format, ap);
    if (n < 0) return;
    std::string_view line(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
    const DiagnosticSeverity severity = SeverityOf(level);
    if (sink_) {
      sink_(severity, line);
    } else if (severity != DiagnosticSeverity::kInfo) {
      std::fprintf(stderr, "rocksdb: %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }

 private:
  const DiagnosticSink sink_;
};

}  // namespace

DiagnosticSeverity SeverityOf(rocksdb::InfoLogLevel level) {
  if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) return DiagnosticSeverity::kError;
  if (level == rocksdb::InfoLogLevel::WARN_LEVEL) return DiagnosticSeverity::kWarning;
  return DiagnosticSeverity::kInfo;
}

std::shared_ptr<rocksdb::Logger> NewDiagnosticsLogger(DiagnosticSink sink,
                                                  rocksdb::InfoLogLevel min_level) {
  return std::make_shared<DiagnosticsLogger>(std::move(sink), min_level);
}

}  // namespace tailgate::store::internal

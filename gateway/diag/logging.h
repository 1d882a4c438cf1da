// A tiny logging facade (Abseil 20220623 has no absl/log).
//
//   TG_LOG(INFO) << "listening on " << addr;
//
// One line per call, written atomically to stderr, as text or JSON lines.
// Thread-safe. Configure once at start-up with SetLogOptions before any
// thread logs; libraries only log, they never configure.
#ifndef TAILGATE_GATEWAY_DIAG_LOGGING_H_
#define TAILGATE_GATEWAY_DIAG_LOGGING_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tailgate {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

struct LogOptions {
  LogLevel min_level = LogLevel::kInfo;
  bool json = false;
};

void SetLogOptions(const LogOptions& options);
bool LogEnabled(LogLevel level);
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text);

// Keeps a repeating message from flooding the log: one line per `period`,
// the next admitted line saying how many were held back. For errors that can
// repeat per request (a store failing every append during a failover).
//
//   static LogThrottle throttle(absl::Seconds(10));
//   if (uint64_t held; throttle.Admit(&held)) TG_LOG(ERROR) << ... << Held(held);
//
// Thread-safe; a function-local static is the usual owner.
class LogThrottle {
 public:
  explicit LogThrottle(absl::Duration period) : period_ns_(absl::ToInt64Nanoseconds(period)) {}
  // True when a line may go out now; `held` gets the number of calls refused
  // since the previous admitted one.
  bool Admit(uint64_t* held);

 private:
  const int64_t period_ns_;
  std::atomic<int64_t> last_ns_{std::numeric_limits<int64_t>::min()};
  std::atomic<uint64_t> held_{0};
};

// " (N more like this since the last report)", or "" for 0.
std::string Held(uint64_t held);

namespace internal {

// Collects one message and writes it when destroyed.
class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
};

}  // namespace internal
}  // namespace tailgate

#define TG_LOG_LEVEL_DEBUG ::tailgate::LogLevel::kDebug
#define TG_LOG_LEVEL_INFO ::tailgate::LogLevel::kInfo
#define TG_LOG_LEVEL_WARNING ::tailgate::LogLevel::kWarning
#define TG_LOG_LEVEL_ERROR ::tailgate::LogLevel::kError

// The message expression is not evaluated when the level is disabled.
#define TG_LOG(severity)                                 \
  if (!::tailgate::LogEnabled(TG_LOG_LEVEL_##severity)) \
    ;                                                    \
  else                                                   \
    ::tailgate::internal::LogLine(TG_LOG_LEVEL_##severity, __FILE__, __LINE__).stream()

#endif  // TAILGATE_GATEWAY_DIAG_LOGGING_H_

#include "gateway/diag/logging.h"

#include "gateway/diag/json_text.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tailgate {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_json{false};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

bool LogThrottle::Admit(uint64_t* held) {
  const int64_t now = absl::GetCurrentTimeNanos();
  int64_t last = last_ns_.load(std::memory_order_relaxed);
  // Subtraction in unsigned: `last` starts at the minimum (always admitted).
  if (static_cast<uint64_t>(now) - static_cast<uint64_t>(last) >= static_cast<uint64_t>(period_ns_) &&
      last_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    *held = held_.exchange(0, std::memory_order_relaxed);
    return true;
  }
  held_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

std::string Held(uint64_t held) {
  if (held == 0) return "";
  return " (" + std::to_string(held) + " more like this since the last report)";
}

void SetLogOptions(const LogOptions& options) {
  g_min_level.store(static_cast<int>(options.min_level));
  g_json.store(options.json);
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn" || text == "warning") return LogLevel::kWarning;
  if (text == "error") return LogLevel::kError;
  return absl::InvalidArgumentError("log level must be one of debug, info, warn, error");
}

namespace internal {

LogLine::LogLine(LogLevel level, const char* file, int line)
    : level_(level), file_(file), line_(line) {}

LogLine::~LogLine() {
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
  const char* base = std::strrchr(file_, '/');
  base = base ? base + 1 : file_;
  std::string msg = stream_.str();
  std::string out;
  out.reserve(msg.size() + 96);
  if (g_json.load(std::memory_order_relaxed)) {
    out.append("{\"ts\":\"").append(time).append("\",\"level\":\"").append(LevelName(level_));
    out.append("\",\"src\":\"").append(base).append(":").append(std::to_string(line_));
    out.append("\",\"msg\":");
    AppendJsonString(&out, msg);
    out.append("}\n");
  } else {
    // Keep every record on one line whatever the message holds.
    for (char& c : msg) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    out.append(time).append(" ").append(LevelName(level_)).append(" ");
    out.append(base).append(":").append(std::to_string(line_)).append("] ");
    out.append(msg).append("\n");
  }
  // One write(2) per record keeps concurrent lines from interleaving.
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
}

}  // namespace internal
}  // namespace tailgate

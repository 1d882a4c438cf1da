// Helpers shared by the benchmark load generator's parts: clocks, process
// CPU and RSS from /proc, a latency histogram, event payloads, addresses.
// Header-only; not thread-safe unless a function says so (they are pure).
#ifndef TAILGATE_TESTS_BENCH_BENCH_UTIL_H_
#define TAILGATE_TESTS_BENCH_BENCH_UTIL_H_

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tailgate::bench {

inline int64_t MonoNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// utime + stime of a process, seconds.
inline double ServerCpu(int pid) {
  if (pid <= 0) return 0;
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> f = absl::StrSplit(stat.substr(paren + 2), ' ');
  int64_t ut = 0, st = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &ut) || !absl::SimpleAtoi(f[12], &st)) return 0;
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// VmRSS of a process, bytes.
inline int64_t ServerRss(int pid) {
  if (pid <= 0) return 0;
  for (absl::string_view line :
       absl::StrSplit(ReadFile(absl::StrCat("/proc/", pid, "/status")), '\n')) {
    if (absl::ConsumePrefix(&line, "VmRSS:")) {
      int64_t kb = 0;
      line = absl::StripAsciiWhitespace(line);
      (void)absl::SimpleAtoi(line.substr(0, line.find(' ')), &kb);
      return kb * 1024;
    }
  }
  return 0;
}

inline double SelfCpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU of the server and of this process over one measured interval.
struct Meter {
  int pid;
  int64_t t0 = MonoNanos();
  double server0 = ServerCpu(pid);
  double self0 = SelfCpu();
  explicit Meter(int p) : pid(p) {}
  double seconds() const { return static_cast<double>(MonoNanos() - t0) / 1e9; }
  double server_cpu() const { return ServerCpu(pid) - server0; }
  double self_cpu() const { return SelfCpu() - self0; }
};

// Latency histogram: 10 us buckets up to 30 s.
struct Histogram {
  std::vector<uint64_t> buckets = std::vector<uint64_t>(3'000'001, 0);
  uint64_t count = 0;
  int64_t max_ns = 0;
  void Add(int64_t ns) {
    const int64_t b = std::clamp<int64_t>(ns / 10'000, 0, 3'000'000);
    ++buckets[static_cast<size_t>(b)];
    ++count;
    max_ns = std::max(max_ns, ns);
  }
  double PercentileMs(double p) const {
    const uint64_t want = static_cast<uint64_t>(p * static_cast<double>(count));
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets.size(); ++i) {
      seen += buckets[i];
      if (seen > want) return static_cast<double>(i + 1) * 0.01;
    }
    return 30000;
  }
};

inline std::string EventData(size_t bytes) {
  std::string d = absl::StrCat("t=", MonoNanos(), "x");
  if (d.size() < bytes) d.resize(bytes, 'x');
  return d;
}

struct HostPort {
  std::string host;
  int port = 0;
};
inline HostPort ParseHostPort(const std::string& s) {
  HostPort hp;
  const size_t colon = s.rfind(':');
  hp.host = s.substr(0, colon);
  (void)absl::SimpleAtoi(s.substr(colon + 1), &hp.port);
  return hp;
}

[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "loadgen: %s\n", what.c_str());
  std::exit(1);
}

}  // namespace tailgate::bench

#endif  // TAILGATE_TESTS_BENCH_BENCH_UTIL_H_

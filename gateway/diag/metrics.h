// Prometheus metrics: counters, gauges and histograms with fixed label sets,
// rendered in the text exposition format (version 0.0.4).
//
// Register metrics at start-up and keep the returned pointers: updates on hot
// paths are then single relaxed atomic operations, with no lookup and no lock.
// Registration and Render take the registry's mutex.
//
// Thread-safety: everything is thread-safe. Ownership: the Registry owns every
// metric; pointers stay valid for the registry's lifetime.
#ifndef TAILGATE_GATEWAY_DIAG_METRICS_H_
#define TAILGATE_GATEWAY_DIAG_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tailgate {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Histogram {
 public:
  // `bounds`: ascending upper bounds of the buckets; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // One per bound, then +Inf.
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> sum_micros_{0};  // sum in millionths, to stay lock-free
};

// Exponential bucket bounds: start, start*factor, ... (count bounds).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returns the metric of `name` with these label values, creating it on first
  // use. The same name must always be used with the same type and help.
  Counter* GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram* GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& bounds, const Labels& labels = {});

  // A gauge computed at scrape time, e.g. the log's watermark. `fn` runs on
  // the scraping thread and must be cheap and non-blocking.
  void AddCallbackGauge(const std::string& name, const std::string& help,
                        std::function<double()> fn);
  // A family computed at scrape time: fn returns (labels, value) rows.
  void AddCallbackGaugeFamily(const std::string& name, const std::string& help,
                              std::function<std::vector<std::pair<Labels, double>>()> fn);

  // The whole registry in Prometheus text format.
  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
    std::function<std::vector<std::pair<Labels, double>>()> callback;
  };
  Family& FamilyFor(const std::string& name, Type type, const std::string& help);  // mu_ held

  // std::mutex, not absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer, so only std:: locking is visible to it.
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;  // Guarded by mu_.
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_DIAG_METRICS_H_

// Store statistics for /metrics, computed off the event loops.
//
// Log::Stats and Log::ListTopics may do disk I/O, and /metrics is served on
// an io_context thread that must never block on disk. A StoreMonitor thread
// refreshes a snapshot every `interval`; the registry's callback gauges only
// copy that snapshot. Each tick also runs `on_tick` (the gateway re-evaluates
// readiness there).
//
// Metrics: tailgate_store_events, tailgate_store_data_bytes,
// tailgate_store_disk_bytes, tailgate_store_topics, and with `topics` the
// per-topic tailgate_topic_events / tailgate_topic_data_bytes /
// tailgate_topic_last_id for the `topics_limit` topics with the most retained
// events (bounded cardinality).
//
// Thread-safety: thread-safe. Lifetime: the log must outlive the monitor
// (Stop joins the thread); the registry's callbacks keep the snapshot alive.
#ifndef TAILGATE_GATEWAY_DIAG_STORE_MONITOR_H_
#define TAILGATE_GATEWAY_DIAG_STORE_MONITOR_H_

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "gateway/diag/metrics.h"
#include "store/log.h"

namespace tailgate {

class StoreMonitor {
 public:
  struct Options {
    absl::Duration interval = absl::Seconds(5);
    bool topics = false;       // Export per-topic gauges.
    size_t topics_limit = 20;  // Top-N topics by retained events.
  };

  // Registers the gauges, refreshes once inline, and starts the thread.
  StoreMonitor(store::Log* log, MetricsRegistry* registry, const Options& options,
               std::function<void()> on_tick);
  ~StoreMonitor();  // Calls Stop().

  StoreMonitor(const StoreMonitor&) = delete;
  StoreMonitor& operator=(const StoreMonitor&) = delete;

  // Joins the thread; the gauges keep their last values. Idempotent.
  void Stop();

 private:
  struct Snapshot;
  void Refresh();
  void Loop();

  store::Log* const log_;
  const Options options_;
  std::function<void()> on_tick_;
  std::shared_ptr<Snapshot> snapshot_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // Guarded by mu_.
  std::thread thread_;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_DIAG_STORE_MONITOR_H_

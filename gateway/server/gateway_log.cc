// Gateway::OpenLog: the event log (RocksDB or JetStream) with the
// committer's metrics, readiness and throttled warnings, then the hub on it.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "gateway/core/hub.h"
#include "gateway/sse/frame.h"
#include "gateway/diag/logging.h"
#include "gateway/diag/ops_metrics.h"
#include "gateway/server/gateway.h"
#include "store/log.h"

namespace tailgate {

absl::Status Gateway::OpenLog() {
  store::Options options = config_.store;
  const bool jetstream = config_.store_backend == Config::StoreBackend::kJetStream;
  options.max_data_bytes = config_.publish.max_data_bytes;
  // Metrics and readiness from the committer (cheap: relaxed atomics; a
  // slow-commit warning at most every 10 s).
  CommitMetrics* cm = &gateway_metrics_->commit;
  // Both can fire on every commit while the disk or the cluster struggles.
  auto slow_log = std::make_shared<LogThrottle>(absl::Seconds(10));
  auto error_log = std::make_shared<LogThrottle>(absl::Seconds(10));
  options.commit_observer = [this, cm, slow = config_.ops.slow_commit,
                             slow_log](size_t events, absl::Duration latency) {
    cm->events_appended->Increment(events);
    cm->commits->Increment();
    cm->batch_events->Observe(static_cast<double>(events));
    cm->latency_seconds->Observe(absl::ToDoubleSeconds(latency));
    if (commit_failed_at_.load(std::memory_order_relaxed) != 0 &&
        commit_failed_at_.exchange(0, std::memory_order_relaxed) != 0) {
      TG_LOG(INFO) << "commits succeed again";
    }
    if (uint64_t held = 0; slow > absl::ZeroDuration() && latency > slow && slow_log->Admit(&held)) {
      TG_LOG(WARNING) << "slow commit: " << events << " event(s) took " << latency
                      << " (--slow_commit=" << slow << ")" << Held(held);
    }
  };
  options.commit_error_observer = [this, cm, error_log](const absl::Status& error) {
    cm->commit_errors->Increment();
    {
      std::lock_guard<std::mutex> lock(commit_error_mu_);
      commit_error_ = std::string(error.message());
    }
    commit_failed_at_.store(absl::ToUnixNanos(absl::Now()), std::memory_order_relaxed);
    if (uint64_t held = 0; error_log->Admit(&held)) {
      TG_LOG(ERROR) << "commit failed: " << error.ToString() << Held(held);
    }
  };
  // RocksDB's own warnings, which can repeat every second while the disk is
  // full and its recovery retries.
  auto engine_log = std::make_shared<LogThrottle>(absl::Seconds(10));
  options.diagnostics = [engine_log](store::DiagnosticSeverity severity, std::string_view line) {
    uint64_t held = 0;
    if (severity == store::DiagnosticSeverity::kInfo || !engine_log->Admit(&held)) return;
    if (severity == store::DiagnosticSeverity::kError) {
      TG_LOG(ERROR) << "rocksdb: " << line << Held(held);
    } else {
      TG_LOG(WARNING) << "rocksdb: " << line << Held(held);
    }
  };
  if (jetstream) {
    // No data dir: the stream is the log.
    absl::StatusOr<std::unique_ptr<store::Log>> log =
        store::OpenJetStreamLog(options, config_.jetstream);
    if (!log.ok()) {
      return absl::Status(log.status().code(),
                          absl::StrCat("--store=jetstream --nats_url=", config_.jetstream.url,
                                       " stream ", config_.jetstream.stream, ": ",
                                       log.status().message()));
    }
    log_ = *std::move(log);
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options.data_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("--data_dir=", options.data_dir, ": cannot create: ", ec.message()));
    }
    // The log locks the directory itself: one process per data dir.
    absl::StatusOr<std::unique_ptr<store::Log>> log = store::OpenRocksDbLog(options);
    if (!log.ok()) {
      return absl::Status(log.status().code(), absl::StrCat("--data_dir=", options.data_dir, ": ",
                                                            log.status().message()));
    }
    log_ = *std::move(log);
  }
  HubOptions hub_options;
  hub_options.cache_events = config_.sse.tail_cache_events;
  hub_options.cache_bytes = config_.sse.tail_cache_bytes;
  hub_options.store_threads = config_.sse.store_threads;
  hub_options.encoder = &SseEventEncoder();  // Frames shared by every SSE stream.
  hub_ = std::make_unique<Hub>(log_.get(), hub_options);
  if (jetstream) {
    TG_LOG(INFO) << "log open: backend jetstream, stream " << config_.jetstream.stream
                 << " (subjects " << config_.jetstream.subject_prefix << ".>, replicas "
                 << config_.jetstream.replicas << ") at " << config_.jetstream.url
                 << " (watermark " << log_->Watermark() << ")";
  } else {
    TG_LOG(INFO) << "log open: backend rocksdb in " << options.data_dir << " (durability "
                 << store::DurabilityName(options.durability) << ", watermark "
                 << log_->Watermark() << ")";
  }
  return absl::OkStatus();
}

}  // namespace tailgate

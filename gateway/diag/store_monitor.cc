#include "gateway/diag/store_monitor.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "gateway/diag/logging.h"

namespace tailgate {

struct StoreMonitor::Snapshot {
  std::mutex mu;
  store::LogStats stats;                 // Guarded by mu.
  std::vector<store::TopicInfo> topics;  // Guarded by mu; top-N by count.
};

StoreMonitor::StoreMonitor(store::Log* log, MetricsRegistry* registry, const Options& options,
                           std::function<void()> on_tick)
    : log_(log),
      options_(options),
      on_tick_(std::move(on_tick)),
      snapshot_(std::make_shared<Snapshot>()) {
  auto stat = [s = snapshot_](uint64_t store::LogStats::*field) {
    return [s, field] {
      std::lock_guard<std::mutex> lock(s->mu);
      return static_cast<double>(s->stats.*field);
    };
  };
  registry->AddCallbackGauge("tailgate_store_events", "Retained events, all topics.",
                             stat(&store::LogStats::events));
  registry->AddCallbackGauge("tailgate_store_data_bytes",
                             "Retained event data bytes, all topics.",
                             stat(&store::LogStats::bytes));
  registry->AddCallbackGauge("tailgate_store_disk_bytes", "Log files on disk (approximate).",
                             stat(&store::LogStats::disk_bytes));
  registry->AddCallbackGauge("tailgate_store_topics", "Topics with retained events or metadata.",
                             stat(&store::LogStats::topics));
  if (options_.topics) {
    auto topic = [s = snapshot_](uint64_t store::TopicInfo::*field) {
      return [s, field] {
        std::lock_guard<std::mutex> lock(s->mu);
        std::vector<std::pair<Labels, double>> rows;
        rows.reserve(s->topics.size());
        for (const store::TopicInfo& t : s->topics) {
          rows.emplace_back(Labels{{"topic", t.topic}}, static_cast<double>(t.*field));
        }
        return rows;
      };
    };
    registry->AddCallbackGaugeFamily(
        "tailgate_topic_events",
        "Retained events of the topics with the most (--metrics_topics_limit).",
        topic(&store::TopicInfo::count));
    registry->AddCallbackGaugeFamily("tailgate_topic_data_bytes",
                                     "Retained data bytes of the same topics.",
                                     topic(&store::TopicInfo::bytes));
    registry->AddCallbackGaugeFamily("tailgate_topic_last_id",
                                     "Last id appended to each of the same topics.",
                                     topic(&store::TopicInfo::last_id));
  }
  Refresh();
  thread_ = std::thread([this] { Loop(); });
}

StoreMonitor::~StoreMonitor() { Stop(); }

void StoreMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StoreMonitor::Refresh() {
  absl::StatusOr<store::LogStats> stats = log_->Stats();
  if (!stats.ok()) {
    TG_LOG(WARNING) << "metrics: cannot read store stats: " << stats.status().ToString();
  }
  std::vector<store::TopicInfo> top;
  if (options_.topics) {
    absl::StatusOr<store::TopicFilter> all = store::TopicFilter::Parse({">"}, "pattern");
    absl::StatusOr<std::vector<store::TopicInfo>> topics =
        all.ok() ? log_->ListTopics(*all)
                 : absl::StatusOr<std::vector<store::TopicInfo>>(all.status());
    if (topics.ok()) {
      top = *std::move(topics);
      const size_t n = std::min(top.size(), options_.topics_limit);
      std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(n), top.end(),
                        [](const store::TopicInfo& a, const store::TopicInfo& b) {
                          return a.count != b.count ? a.count > b.count : a.topic < b.topic;
                        });
      top.resize(n);
    } else {
      TG_LOG(WARNING) << "metrics: cannot list topics: " << topics.status().ToString();
    }
  }
  std::lock_guard<std::mutex> lock(snapshot_->mu);
  if (stats.ok()) snapshot_->stats = *stats;
  if (options_.topics) snapshot_->topics = std::move(top);
}

void StoreMonitor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.interval),
                     [this] { return stop_; })) {
      return;
    }
    lock.unlock();
    Refresh();
    if (on_tick_) on_tick_();
    lock.lock();
  }
}

}  // namespace tailgate

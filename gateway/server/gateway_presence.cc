// Gateway::OpenPresence: the revocation list (persisted), the JWT verifier's
// revocation hook, the stream registry and its opt-in /metrics gauges. Apart
// from gateway.cc so that the wiring of presence stays in one place.
#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/auth/verifier.h"
#include "gateway/server/gateway.h"
#include "gateway/diag/logging.h"
#include "gateway/diag/metrics.h"
#include "gateway/core/presence.h"
#include "gateway/auth/revocations.h"

namespace tailgate {

absl::Status Gateway::OpenPresence() {
  std::string path = config_.ops.revocations_file;
  if (path.empty() && config_.store_backend == Config::StoreBackend::kRocksDb) {
    // Next to the log: RocksDB leaves files it does not know alone.
    path = config_.store.data_dir + "/revocations";
  }
  absl::StatusOr<std::unique_ptr<RevocationList>> list = RevocationList::Open(path, absl::Now());
  if (!list.ok()) {
    return absl::Status(list.status().code(),
                        absl::StrCat("revocations: ", list.status().message()));
  }
  revocations_ = *std::move(list);
  if (path.empty()) {
    TG_LOG(WARNING) << "revocations are kept in memory only (--store=jetstream without "
                       "--revocations_file): a restart forgets them";
  } else if (size_t n = revocations_->List(absl::Now()).size(); n > 0) {
    TG_LOG(INFO) << n << " revocation(s) in effect, from " << path;
  }
  if (verifier_ != nullptr) {
    // The one hook every transport's token check goes through.
    verifier_->set_subject_check([list = revocations_.get()](std::string_view subject,
                                                             absl::Time now) {
      return list->CheckSubject(subject, now);
    });
  }
  streams_ = std::make_unique<StreamRegistry>(revocations_.get());
  if (config_.ops.metrics_subscribers) {
    // Bounded: the `limit` patterns with the most streams; clients choose
    // patterns, so all of them could be unbounded.
    metrics_->AddCallbackGaugeFamily(
        "tailgate_subscribers",
        absl::StrCat("Open subscription streams (SSE and gRPC) per subscription pattern, for "
                     "the ",
                     config_.ops.metrics_subscribers_limit,
                     " patterns with the most (--metrics_subscribers_limit)."),
        [registry = streams_.get(), limit = config_.ops.metrics_subscribers_limit] {
          std::map<std::string, uint64_t> counts = registry->CountByPattern(nullptr);
          std::vector<std::pair<std::string, uint64_t>> top(counts.begin(), counts.end());
          std::stable_sort(top.begin(), top.end(),
                           [](const auto& a, const auto& b) { return a.second > b.second; });
          if (top.size() > limit) top.resize(limit);
          std::vector<std::pair<Labels, double>> out;
          for (auto& [pattern, n] : top) {
            out.push_back({Labels{{"pattern", pattern}}, static_cast<double>(n)});
          }
          return out;
        });
  }
  return absl::OkStatus();
}

}  // namespace tailgate

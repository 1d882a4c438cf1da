// Test support: a store::Log whose appends complete only when the test says
// so (CompleteAll), with ids 1, 2, ... in append order. Reads are
// unimplemented. Thread-safe.
#ifndef TAILGATE_TESTS_PUBLISH_HELD_LOG_H_
#define TAILGATE_TESTS_PUBLISH_HELD_LOG_H_

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "store/log.h"

namespace tailgate::testing {

// Holds every append until Complete/Fail; assigns ids 1, 2, ... in append order.
class HeldLog final : public store::Log {
 public:
  void AppendAsync(std::vector<store::EventInput> events, AppendCallback done) override {
    absl::MutexLock lock(&mu_);
    held_.push_back({std::move(events), std::move(done)});
    ++appended_;
    max_outstanding_ = std::max(max_outstanding_, held_.size());
  }

  // Blocks until `n` appends arrived in total.
  void WaitForAppends(size_t n) {
    struct Arg {
      HeldLog* log;
      size_t n;
    } arg{this, n};
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->log->appended_ >= a->n; }, &arg));
  }

  // Completes every held append, successfully or with `error`.
  void CompleteAll(absl::Status error = absl::OkStatus()) {
    std::vector<Held> held;
    std::vector<absl::StatusOr<std::vector<store::AppendResult>>> results;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
      for (Held& h : held) {
        if (!error.ok()) {
          results.push_back(error);
          continue;
        }
        std::vector<store::AppendResult> r;
        for (size_t i = 0; i < h.events.size(); ++i) r.push_back({++last_id_, false});
        results.push_back(std::move(r));
      }
    }
    for (size_t i = 0; i < held.size(); ++i) held[i].done(std::move(results[i]));
  }

  size_t max_outstanding() {
    absl::MutexLock lock(&mu_);
    return max_outstanding_;
  }

  uint64_t Watermark() const override { return 0; }
  uint64_t LastAssignedId() const override { return 0; }
  uint64_t AddCommitListener(CommitListener) override { return 0; }
  void RemoveCommitListener(uint64_t) override {}
  absl::StatusOr<store::ReadResult> Read(const store::ReadRequest&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<uint64_t> CursorAtTime(absl::Time) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<uint64_t> EarliestCursor(const store::TopicFilter&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<uint64_t> CursorBeforeLast(const store::TopicFilter&, size_t, uint64_t) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<store::TopicInfo>> ListTopics(const store::TopicFilter&) override {
    return absl::UnimplementedError("");
  }
  absl::Status TrimTopic(std::string_view, uint64_t) override {
    return absl::UnimplementedError("");
  }
  absl::Status DeleteTopic(std::string_view) override { return absl::UnimplementedError(""); }
  absl::Status EnforceRetention() override { return absl::UnimplementedError(""); }
  absl::Status Checkpoint(const std::string&) override { return absl::UnimplementedError(""); }
  absl::StatusOr<store::LogStats> Stats() override { return absl::UnimplementedError(""); }
  void Close() override {}

 private:
  struct Held {
    std::vector<store::EventInput> events;
    AppendCallback done;
  };
  absl::Mutex mu_;
  std::vector<Held> held_ ABSL_GUARDED_BY(mu_);
  size_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_PUBLISH_HELD_LOG_H_

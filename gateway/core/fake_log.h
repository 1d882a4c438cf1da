// An in-memory store::Log for the subscription core's unit tests: appends
// commit synchronously on the caller's thread (listeners run there), reads
// serve from a vector, and TrimThrough removes a prefix the way retention
// does (reads after it report `trimmed`).
//
// Thread-safe.
#ifndef TAILGATE_GATEWAY_CORE_FAKE_LOG_H_
#define TAILGATE_GATEWAY_CORE_FAKE_LOG_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "store/log.h"

namespace tailgate::testing {

class FakeLog : public store::Log {
 public:
  FakeLog() = default;

  // Commits one event and returns its id.
  uint64_t Append(std::string topic, std::string data);
  // Commits several events as one commit (one listener call).
  uint64_t AppendBatch(const std::vector<std::string>& topics);
  // Removes every event with id <= `id`.
  void TrimThrough(uint64_t id);
  // Read calls so far (to tell store reads from cache hits).
  size_t reads() const;

  void AppendAsync(std::vector<store::EventInput> events, AppendCallback done) override;
  uint64_t Watermark() const override;
  uint64_t LastAssignedId() const override { return Watermark(); }
  uint64_t AddCommitListener(CommitListener listener) override;
  void RemoveCommitListener(uint64_t handle) override;
  absl::StatusOr<store::ReadResult> Read(const store::ReadRequest& request) override;
  absl::StatusOr<uint64_t> CursorAtTime(absl::Time t) override;
  absl::StatusOr<uint64_t> EarliestCursor(const store::TopicFilter& filter) override;
  absl::StatusOr<uint64_t> CursorBeforeLast(const store::TopicFilter& filter, size_t n,
                                            uint64_t before) override;
  absl::StatusOr<std::vector<store::TopicInfo>> ListTopics(
      const store::TopicFilter& filter) override;
  uint64_t RemovedThrough() const override;
  absl::Status TrimTopic(std::string_view topic, uint64_t up_to_id) override;
  absl::Status DeleteTopic(std::string_view topic) override;
  absl::Status EnforceRetention() override { return absl::OkStatus(); }
  absl::Status Checkpoint(const std::string& dir) override;
  absl::StatusOr<store::LogStats> Stats() override;
  void Close() override {}

 private:
  void Commit(std::vector<store::EventInput> inputs, std::vector<store::AppendResult>* results);

  mutable std::mutex mu_;
  // Serializes commits so listeners see them in id order, as a real log's
  // single committer does.
  std::mutex commit_mu_;
  std::vector<store::Event> events_;  // Ascending ids; a trimmed prefix is gone.
  uint64_t next_id_ = 1;
  uint64_t removed_through_ = 0;
  size_t reads_ = 0;
  uint64_t next_listener_ = 1;
  std::map<uint64_t, CommitListener> listeners_;
};

}  // namespace tailgate::testing

#endif  // TAILGATE_GATEWAY_CORE_FAKE_LOG_H_

#include "gateway/core/fake_log.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"

namespace tailgate::testing {

uint64_t FakeLog::Append(std::string topic, std::string data) {
  std::vector<store::EventInput> in(1);
  in[0].topic = std::move(topic);
  in[0].data = std::move(data);
  std::vector<store::AppendResult> results;
  Commit(std::move(in), &results);
  return results.front().id;
}

uint64_t FakeLog::AppendBatch(const std::vector<std::string>& topics) {
  std::vector<store::EventInput> in(topics.size());
  for (size_t i = 0; i < topics.size(); ++i) {
    in[i].topic = topics[i];
    in[i].data = "batch";
  }
  std::vector<store::AppendResult> results;
  Commit(std::move(in), &results);
  return results.empty() ? 0 : results.back().id;
}

void FakeLog::AppendAsync(std::vector<store::EventInput> events, AppendCallback done) {
  std::vector<store::AppendResult> results;
  Commit(std::move(events), &results);
  done(std::move(results));
}

void FakeLog::Commit(std::vector<store::EventInput> inputs,
                     std::vector<store::AppendResult>* results) {
  std::lock_guard commit(commit_mu_);
  std::vector<store::Event> committed;
  std::vector<CommitListener> listeners;
  uint64_t watermark = 0;
  {
    std::lock_guard lock(mu_);
    for (store::EventInput& in : inputs) {
      store::Event e;
      e.id = next_id_++;
      e.topic = std::move(in.topic);
      e.type = std::move(in.type);
      e.data = std::move(in.data);
      e.publish_time = absl::Now();
      events_.push_back(e);
      committed.push_back(std::move(e));
      results->push_back(store::AppendResult{committed.back().id, false});
    }
    watermark = next_id_ - 1;
    for (auto& [handle, listener] : listeners_) listeners.push_back(listener);
  }
  for (CommitListener& l : listeners) l(committed, watermark);
}

void FakeLog::TrimThrough(uint64_t id) {
  std::lock_guard lock(mu_);
  events_.erase(std::remove_if(events_.begin(), events_.end(),
                               [id](const store::Event& e) { return e.id <= id; }),
                events_.end());
  removed_through_ = std::max(removed_through_, id);
}

size_t FakeLog::reads() const {
  std::lock_guard lock(mu_);
  return reads_;
}

uint64_t FakeLog::Watermark() const {
  std::lock_guard lock(mu_);
  return next_id_ - 1;
}

uint64_t FakeLog::AddCommitListener(CommitListener listener) {
  std::lock_guard lock(mu_);
  listeners_[next_listener_] = std::move(listener);
  return next_listener_++;
}

void FakeLog::RemoveCommitListener(uint64_t handle) {
  std::lock_guard lock(mu_);
  listeners_.erase(handle);
}

absl::StatusOr<store::ReadResult> FakeLog::Read(const store::ReadRequest& request) {
  std::lock_guard lock(mu_);
  ++reads_;
  const uint64_t up_to = request.up_to_id == 0 ? next_id_ - 1 : request.up_to_id;
  store::ReadResult out;
  out.trimmed = request.after_id < removed_through_;
  out.next_after_id = std::max(request.after_id, std::min(up_to, removed_through_));
  size_t bytes = 0;
  for (const store::Event& e : events_) {
    if (e.id <= request.after_id || e.id > up_to) continue;
    if (out.events.size() >= request.max_events ||
        (!out.events.empty() && bytes >= request.max_bytes)) {
      return out;
    }
    out.next_after_id = e.id;
    if (!request.filter.Matches(e.topic)) continue;
    out.events.push_back(e);
    bytes += e.data.size() + e.topic.size();
  }
  out.next_after_id = std::max(out.next_after_id, up_to);
  out.reached_end = true;
  return out;
}

absl::StatusOr<uint64_t> FakeLog::CursorAtTime(absl::Time t) {
  std::lock_guard lock(mu_);
  for (const store::Event& e : events_) {
    if (e.publish_time >= t) return e.id - 1;
  }
  return next_id_ - 1;
}

absl::StatusOr<uint64_t> FakeLog::EarliestCursor(const store::TopicFilter& filter) {
  std::lock_guard lock(mu_);
  for (const store::Event& e : events_) {
    if (filter.Matches(e.topic)) return e.id - 1;
  }
  return next_id_ - 1;
}

absl::StatusOr<uint64_t> FakeLog::CursorBeforeLast(const store::TopicFilter& filter, size_t n,
                                                   uint64_t before) {
  std::lock_guard lock(mu_);
  uint64_t cursor = before;
  for (auto it = events_.rbegin(); it != events_.rend() && n > 0; ++it) {
    if (it->id > before || !filter.Matches(it->topic)) continue;
    cursor = it->id - 1;
    --n;
  }
  return cursor;
}

absl::StatusOr<std::vector<store::TopicInfo>> FakeLog::ListTopics(const store::TopicFilter&) {
  return absl::UnimplementedError("FakeLog::ListTopics");
}

uint64_t FakeLog::RemovedThrough() const {
  std::lock_guard lock(mu_);
  return removed_through_;
}

absl::Status FakeLog::TrimTopic(std::string_view, uint64_t) {
  return absl::UnimplementedError("FakeLog::TrimTopic");
}

absl::Status FakeLog::DeleteTopic(std::string_view) {
  return absl::UnimplementedError("FakeLog::DeleteTopic");
}

absl::Status FakeLog::Checkpoint(const std::string&) {
  return absl::UnimplementedError("FakeLog::Checkpoint");
}

absl::StatusOr<store::LogStats> FakeLog::Stats() {
  return absl::UnimplementedError("FakeLog::Stats");
}

}  // namespace tailgate::testing

#include "store/jetstream/event_cache.h"

#include <algorithm>

namespace tailgate::store::internal {

size_t EventCache::Cost(const Event& e) {
  // The strings' heap plus the deque slot and allocator overhead.
  return sizeof(Event) + e.topic.size() + e.type.size() + e.data.size() + 48;
}

void EventCache::Reset(uint64_t id) {
  absl::MutexLock lock(&mu_);
  events_.clear();
  bytes_ = 0;
  from_ = to_ = id;
}

void EventCache::Append(absl::Span<const Event> events, uint64_t through) {
  if (max_bytes_ == 0) return;
  absl::MutexLock lock(&mu_);
  uint64_t last = to_;
  bool ascending = through >= to_;
  for (const Event& e : events) {
    if (e.id <= last || e.id > through) {
      ascending = false;
      break;
    }
    last = e.id;
  }
  if (!ascending) {
    events_.clear();
    bytes_ = 0;
    from_ = to_ = std::max(through, to_);
    return;
  }
  for (const Event& e : events) {
    bytes_ += Cost(e);
    events_.push_back(e);
  }
  to_ = through;
  EvictLocked();
}

size_t EventCache::Prepend(std::vector<Event> events, uint64_t from, uint64_t through) {
  if (max_bytes_ == 0) return 0;
  absl::MutexLock lock(&mu_);
  if (through != from_ || from >= through) return 0;
  uint64_t above = through + 1;
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    if (it->id >= above || it->id <= from) return 0;  // not ascending within (from, through]
    above = it->id;
  }
  // Newest first, while they fit: the range stays contiguous, so an event
  // that does not fit ends the coverage just above it.
  size_t kept = 0;
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    const size_t cost = Cost(*it);
    if (bytes_ + cost > max_bytes_) {
      from_ = it->id;
      return kept;
    }
    bytes_ += cost;
    events_.push_front(std::move(*it));
    ++kept;
  }
  from_ = from;
  return kept;
}

void EventCache::EvictLocked() {
  while (bytes_ > max_bytes_ && !events_.empty()) {
    bytes_ -= Cost(events_.front());
    from_ = events_.front().id;
    events_.pop_front();
  }
}

std::optional<ReadResult> EventCache::Read(const ReadRequest& request, uint64_t bound,
                                           size_t max_skipped) const {
  absl::ReaderMutexLock lock(&mu_);
  if (max_bytes_ == 0 || request.after_id < from_ || bound > to_) return std::nullopt;
  ReadResult result;
  result.next_after_id = request.after_id;
  if (request.after_id >= bound) {
    result.reached_end = true;
    return result;
  }
  const size_t max_events = std::max<size_t>(1, request.max_events);
  auto it = std::lower_bound(events_.begin(), events_.end(), request.after_id + 1,
                             [](const Event& e, uint64_t id) { return e.id < id; });
  size_t bytes = 0;
  size_t skipped = 0;
  uint64_t last_seen = request.after_id;
  for (; it != events_.end() && it->id <= bound; ++it) {
    if (!request.filter.Matches(it->topic)) {
      last_seen = it->id;
      if (++skipped >= max_skipped) {
        result.next_after_id = last_seen;
        return result;
      }
      continue;
    }
    const size_t size = it->data.size() + it->topic.size();
    if (result.events.size() >= max_events ||
        (!result.events.empty() && bytes + size > request.max_bytes)) {
      // As on RocksDB: resume right after the last event returned.
      result.next_after_id = result.events.back().id;
      return result;
    }
    bytes += size;
    last_seen = it->id;
    result.events.push_back(*it);
  }
  result.reached_end = true;
  result.next_after_id = bound;
  return result;
}

uint64_t EventCache::covered_from() const {
  absl::ReaderMutexLock lock(&mu_);
  return from_;
}
uint64_t EventCache::covered_to() const {
  absl::ReaderMutexLock lock(&mu_);
  return to_;
}
size_t EventCache::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return events_.size();
}
size_t EventCache::bytes() const {
  absl::ReaderMutexLock lock(&mu_);
  return bytes_;
}

}  // namespace tailgate::store::internal

// A node-local, in-memory copy of the newest part of a log, for reads.
//
// The JetStream log feeds it from its ordered consumer (the tail): every
// event the tail delivers is appended here before the watermark moves past
// it; and, once at open, loads the history before that from the stream
// (Prepend), as much as fits. The cache then holds, for the id range
// (covered_from, covered_to], every event the stream delivered in that range,
// ascending. The stream stays the
// source of truth: the cache never learns about removals (trim, delete,
// retention, another node's purge), so the caller serves a read from it only
// when the stream says nothing above the read's cursor was removed (see
// JetStreamLog::Read). Eviction drops the oldest events once the cache holds
// more than max_bytes; covered_from then moves up. Thread-safe.
#ifndef TAILGATE_STORE_JETSTREAM_EVENT_CACHE_H_
#define TAILGATE_STORE_JETSTREAM_EVENT_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "store/log.h"

namespace tailgate::store::internal {

class EventCache {
 public:
  // max_bytes == 0: caches nothing, every read misses.
  explicit EventCache(size_t max_bytes) : max_bytes_(max_bytes) {}
  EventCache(const EventCache&) = delete;
  EventCache& operator=(const EventCache&) = delete;

  // Forgets everything; the cache covers (id, id] (nothing) and grows from there.
  void Reset(uint64_t id);

  // Appends events with ascending ids above covered_to and raises
  // covered_to to `through` (>= the last event's id): every stream event in
  // (old covered_to, through] is among `events`. Ignored unless ascending
  // above covered_to (then the cache resets to cover nothing from `through`).
  void Append(absl::Span<const Event> events, uint64_t through);

  // Extends the covered range downwards: `events` are every stream event in
  // (from, through], ascending, and `through` must be covered_from (else
  // nothing changes: the cache was reset meanwhile). Keeps the newest of them
  // that fit beside what the cache holds; covered_from moves down to below
  // the oldest kept. Returns how many were kept.
  size_t Prepend(std::vector<Event> events, uint64_t from, uint64_t through);

  // Serves the read of (request.after_id, bound] when the cache covers that
  // range; nullopt otherwise. Sets events, next_after_id and reached_end (not
  // trimmed) with the same meaning as Log::Read; skips at most max_skipped
  // non-matching events before returning what it has.
  std::optional<ReadResult> Read(const ReadRequest& request, uint64_t bound,
                                 size_t max_skipped) const;

  // For tests and stats.
  uint64_t covered_from() const;
  uint64_t covered_to() const;
  size_t size() const;
  size_t bytes() const;

  static size_t Cost(const Event& e);

 private:
  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);  // ascending ids
  uint64_t from_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t to_ ABSL_GUARDED_BY(mu_) = 0;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_JETSTREAM_EVENT_CACHE_H_

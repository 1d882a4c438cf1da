// Retention planning, shared by the RocksDB and JetStream logs: which events
// of a topic a retention pass removes, given the topic's rule (max_events,
// max_age), and how many bytes the global cap (Options::max_total_bytes)
// wants gone. The backends only carry the plan out on their storage.
//
// The clock is injected (Options-independent hooks, e.g. RocksDbLogHooks and
// JetStreamLogHooks) so that tests move time instead of sleeping.
//
// Thread-safety: RetentionRules and RetentionPlanner are immutable after
// construction; every method may be called from any thread.
#ifndef TAILGATE_STORE_INTERNAL_RETENTION_H_
#define TAILGATE_STORE_INTERNAL_RETENTION_H_

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/log.h"
#include "store/topic.h"

namespace tailgate::store::internal {

// Where a log reads the time: commit times, dedup windows, age limits.
using Clock = std::function<absl::Time()>;

// Options::retention_rules with their patterns parsed once: a topic gets
// the first rule whose pattern matches it, else Options::default_retention.
class RetentionRules {
 public:
  RetentionRules() = default;

  // INVALID_ARGUMENT naming the field ("retention_rules[2].pattern",
  // "default_retention.pattern") when a pattern is malformed.
  static absl::StatusOr<RetentionRules> Parse(const Options& options);

  const RetentionRule& For(std::string_view topic) const;
  // The smallest age limit of any rule (default included); infinite when no
  // rule limits age.
  absl::Duration ShortestMaxAge() const;

  // The explicit rules, in order (default_retention not included).
  const std::vector<std::pair<TopicPattern, RetentionRule>>& rules() const { return rules_; }
  const RetentionRule& default_rule() const { return default_; }
  bool empty() const { return rules_.empty(); }

 private:
  std::vector<std::pair<TopicPattern, RetentionRule>> rules_;
  RetentionRule default_;
};

// Limits the storage enforces by itself (JetStream's stream limits); zero
// means none. A rule no stricter than these is left to the storage.
struct StorageLimits {
  uint64_t max_events = 0;
  absl::Duration max_age = absl::ZeroDuration();
};

// The loosest limits over every rule (default included): what a storage
// may enforce by itself without removing anything a rule still keeps.
StorageLimits LoosestLimits(const RetentionRules& rules);

// What one retention pass removes from one topic: always a prefix of its
// retained events, oldest first.
struct TopicCut {
  // The oldest `over` events go (max_events) ...
  uint64_t over = 0;
  // ... and so does every leading event older than this (max_age).
  absl::Time older_than = absl::InfinitePast();

  bool empty() const { return over == 0 && !by_age(); }
  bool by_age() const { return older_than != absl::InfinitePast(); }
  // Whether the topic's index-th retained event (0: the oldest), from time
  // `t`, goes. Once false, it is false for every later event the caller
  // walks in order, unless an older timestamp follows.
  bool Removes(uint64_t index, absl::Time t) const { return index < over || t < older_than; }
};

class RetentionPlanner {
 public:
  // `enforced`: what the storage removes by itself (see StorageLimits).
  RetentionPlanner(RetentionRules rules, Clock clock, StorageLimits enforced = {});

  const RetentionRules& rules() const { return rules_; }
  // The time a pass plans with.
  absl::Time Now() const { return clock_(); }

  // The cut for `topic` holding `count` retained events, at `now`.
  TopicCut Plan(std::string_view topic, uint64_t count, absl::Time now) const;

  // Stored bytes over `max_total_bytes` (0: no cap), which a pass removes
  // oldest first across topics.
  static uint64_t ExcessBytes(uint64_t total_bytes, uint64_t max_total_bytes) {
    return max_total_bytes > 0 && total_bytes > max_total_bytes ? total_bytes - max_total_bytes
                                                                : 0;
  }

 private:
  RetentionRules rules_;
  Clock clock_;
  StorageLimits enforced_;
};

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_INTERNAL_RETENTION_H_

// Topic names, subscription patterns and event field validation.
//
// This is the one place the grammar (docs/api.md shows it to clients) lives:
// the store checks every append with it and the gateway checks requests with
// it, so a rule changes here and nowhere else. All functions are pure and thread-safe.
#ifndef TAILGATE_STORE_TOPIC_H_
#define TAILGATE_STORE_TOPIC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tailgate::store {

inline constexpr size_t kMaxTopicBytes = 255;
inline constexpr size_t kMaxTypeBytes = 64;
inline constexpr size_t kDefaultMaxDataBytes = 1 << 20;

// Topic: 1-255 bytes, dot-separated non-empty tokens of [A-Za-z0-9_:-].
// Returns INVALID_ARGUMENT naming `field` and the broken rule.
absl::Status ValidateTopic(std::string_view topic, std::string_view field = "topic");

// Type (SSE `event:`): empty (= none) or 1-64 bytes of [A-Za-z0-9_.:-];
// not "error" or "open" (EventSource's own events) and not "tailgate.*".
absl::Status ValidateType(std::string_view type, std::string_view field = "type");

// Data: valid UTF-8 (no overlongs, no surrogates), at most max_bytes bytes
// (RESOURCE_EXHAUSTED when over), no NUL.
absl::Status ValidateData(std::string_view data, size_t max_bytes,
                          std::string_view field = "data");

// Idempotency key: empty (= none) or at most 128 bytes of printable ASCII.
absl::Status ValidateIdempotencyKey(std::string_view key,
                                    std::string_view field = "idempotency_key");

// True when data is well-formed UTF-8.
bool IsValidUtf8(std::string_view data);

// A subscription pattern: topic tokens where `*` matches exactly one token
// and a final `>` matches one or more tokens. Immutable once parsed.
//
// Only the text is kept (40 bytes, no allocation for patterns of up to 15
// bytes): every idle subscriber holds its patterns, so a per-token vector
// would cost more than the rest of its filter; matching walks the text.
class TopicPattern {
 public:
  // INVALID_ARGUMENT naming `field` when the pattern is malformed.
  static absl::StatusOr<TopicPattern> Parse(std::string_view pattern,
                                            std::string_view field = "topic");

  bool Matches(std::string_view topic) const;
  // True when the pattern has no wildcard: it names exactly one topic.
  bool IsExact() const { return exact_; }
  // The literal tokens before the first wildcard, joined by '.', with a
  // trailing '.' when a wildcard follows ("orders.eu." for "orders.eu.*").
  // Every matching topic starts with it; used to bound index scans.
  std::string_view LiteralPrefix() const {
    return std::string_view(text_).substr(0, prefix_bytes_);
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
  uint8_t prefix_bytes_ = 0;  // topics are at most 255 bytes
  bool exact_ = true;
};

// A set of patterns (a subscription). Matches when any pattern matches.
class TopicFilter {
 public:
  TopicFilter() = default;
  explicit TopicFilter(std::vector<TopicPattern> patterns);
  static absl::StatusOr<TopicFilter> Parse(const std::vector<std::string>& patterns,
                                           std::string_view field = "topic");

  bool Matches(std::string_view topic) const;
  const std::vector<TopicPattern>& patterns() const { return patterns_; }
  bool empty() const { return patterns_.empty(); }

 private:
  std::vector<TopicPattern> patterns_;
};

}  // namespace tailgate::store

#endif  // TAILGATE_STORE_TOPIC_H_

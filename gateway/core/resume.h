// Where a subscription starts and why it may not start exactly there: the
// resume point every transport accepts (after an id, since a time, the last
// N events, or live) and the reset it may get instead. Transport-neutral:
// SSE and gRPC parse their fields with these functions and report a Reset
// in their own framing.
//
// All functions are pure and thread-safe.
#ifndef TAILGATE_GATEWAY_CORE_RESUME_H_
#define TAILGATE_GATEWAY_CORE_RESUME_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tailgate {

// The reserved event type that reports, in-band, that the stream cannot
// continue exactly where the client asked (see README "The reset event").
// User event types may not start with "tailgate." (store/topic.h ValidateType).
inline constexpr std::string_view kResetEventType = "tailgate.reset";

// The reserved caught-up marker: the stream has delivered everything up to
// the watermark it found on opening (at once for a live-only stream). Sent
// once, on request (?live=1 / SubscribeRequest.live_marker), without an id
// so it never moves the client's resume point.
inline constexpr std::string_view kLiveEventType = "tailgate.live";

// "last" ranges from 1 to this (README "Server-Sent Events").
inline constexpr uint64_t kMaxLast = 1000;

// Why the stream could not resume exactly where asked.
struct Reset {
  enum class Reason { kTrimmed, kUnknownId };
  Reason reason = Reason::kTrimmed;
  uint64_t requested = 0;  // The cursor the client asked for.
  uint64_t resume = 0;     // The cursor the stream continues from.
};

std::string_view ResetReasonName(Reset::Reason reason);
// {"reason":"trimmed","requested":N,"resume":M}: the reset event's data on
// every transport.
std::string ResetJson(const Reset& reset);
// {"id":N}: the caught-up marker's data on every transport.
std::string LiveJson(uint64_t live_at);

// Where a new subscription starts.
struct ResumeSpec {
  // kLast: the latest `last` matching events, then live.
  enum class Kind { kLive, kAfterId, kEarliest, kTime, kLast };
  Kind kind = Kind::kLive;
  uint64_t after_id = 0;
  absl::Time time;
  uint64_t last = 0;
};

// A decimal event id (surrounding spaces/tabs ignored). INVALID_ARGUMENT
// naming `field` otherwise.
absl::StatusOr<uint64_t> ParseEventId(std::string_view text, std::string_view field);

// An integer from 1 to kMaxLast; INVALID_ARGUMENT naming `field`.
absl::StatusOr<uint64_t> ParseLast(std::string_view text, std::string_view field);

// "earliest" or an RFC 3339 timestamp; INVALID_ARGUMENT naming `field`.
absl::StatusOr<ResumeSpec> ParseSince(std::string_view text, std::string_view field);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CORE_RESUME_H_

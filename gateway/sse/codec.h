// Server-Sent Events wire format (WHATWG HTML, "server-sent events"):
// frames, comments and the reserved reset event, plus the request-side
// parsing the SSE endpoint needs (query strings, event ids, resume points).
//
// All functions are pure and thread-safe.
#ifndef TAILGATE_GATEWAY_SSE_CODEC_H_
#define TAILGATE_GATEWAY_SSE_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tailgate {

// The reserved event type that reports, in-band, that the stream cannot
// continue exactly where the client asked (see README "The reset event").
// User event types may not start with "tailgate." (store/topic.h ValidateType).
inline constexpr std::string_view kResetEventType = "tailgate.reset";

// The reserved caught-up marker: the stream has delivered everything up to
// the watermark it found on opening (at once for a live-only stream). Sent
// once, on request (?live=1 / SubscribeRequest.live_marker), with no `id:`
// line so it never moves the client's last event id.
inline constexpr std::string_view kLiveEventType = "tailgate.live";
// Its frame: "event: tailgate.live\ndata: {\"id\":N}\n\n" with N the
// watermark it reports.
std::string EncodeLiveFrame(uint64_t live_at);

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
// {"reason":"trimmed","requested":N,"resume":M}
std::string ResetJson(const Reset& reset);

// "id: <id>\nevent: <type>\ndata: <line>\n...\n\n". `type` may be empty (no
// event: line). `data` is split on CRLF, CR and LF so that an EventSource
// reassembles the same lines joined by LF; empty data still yields one
// "data:" line so the event is dispatched.
std::string EncodeSseFrame(uint64_t id, std::string_view type, std::string_view data);
void AppendSseFrame(uint64_t id, std::string_view type, std::string_view data, std::string* out);

// The reset event: its id is reset.resume, so a client that reconnects after
// it resumes from there.
std::string EncodeResetFrame(const Reset& reset);

// Decodes %XX and '+' (application/x-www-form-urlencoded). Malformed escapes
// are kept literally.
std::string UrlDecode(std::string_view in);

// Splits "a=1&b=2" into decoded (name, value) pairs, in order.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// A decimal event id (surrounding spaces/tabs ignored). INVALID_ARGUMENT
// naming `field` otherwise.
absl::StatusOr<uint64_t> ParseEventId(std::string_view text, std::string_view field);

// Where a new subscription starts.
struct ResumeSpec {
  // kLast: the latest `last` matching events, then live.
  enum class Kind { kLive, kAfterId, kEarliest, kTime, kLast };
  Kind kind = Kind::kLive;
  uint64_t after_id = 0;
  absl::Time time;
  uint64_t last = 0;
};

// An integer from 1 to kMaxLast; INVALID_ARGUMENT naming `field`.
absl::StatusOr<uint64_t> ParseLast(std::string_view text, std::string_view field);

// "earliest" or an RFC 3339 timestamp; INVALID_ARGUMENT naming `field`.
absl::StatusOr<ResumeSpec> ParseSince(std::string_view text, std::string_view field);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SSE_CODEC_H_

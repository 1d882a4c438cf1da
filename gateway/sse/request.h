// The checks of one GET /v1/events request, as a pure function of its target
// and headers: the SSE service calls it before taking a connection over, and
// tests/fuzz/sse_request_fuzz feeds it arbitrary input.
//
// Thread-safe (the verifier is).
#ifndef TAILGATE_GATEWAY_SSE_REQUEST_H_
#define TAILGATE_GATEWAY_SSE_REQUEST_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/auth/token_extraction.h"
#include "gateway/auth/verifier.h"
#include "gateway/core/resume.h"
#include "store/topic.h"

namespace tailgate {

// What the request says; absent headers are empty.
struct SseRequestInput {
  std::string_view target;  // "/v1/events?topic=...", as received
  std::string_view last_event_id;  // Last-Event-ID header
  std::string_view authorization;  // Authorization header
  std::string_view cookie;         // Cookie header
};

struct SseRequestPolicy {
  size_t max_topics = 16;
  // Non-null: a token is required and must grant every requested pattern.
  const JwtVerifier* verifier = nullptr;
  TokenSources token_sources;
};

// A request that passed every check.
struct SseRequest {
  std::vector<store::TopicPattern> patterns;
  ResumeSpec resume;
  // ?live=1: send the tailgate.live marker once caught up.
  bool live_marker = false;
  // ?meta=1: frames carry `topic:` and `time:` fields (EncodedEvent::meta).
  bool meta = false;
  std::string subject;  // The token's `sub` (empty without auth).
  // When the stream must end: the token's Grants::valid_until (exp plus
  // leeway); InfiniteFuture without auth.
  absl::Time valid_until = absl::InfiniteFuture();
};

// The subscription, or the refusal with a one-line reason that never
// contains the token: UNAUTHENTICATED (-> 401: token required but missing,
// malformed or invalid), INVALID_ARGUMENT (-> 400: topics or resume point),
// PERMISSION_DENIED (-> 403: a pattern outside the token's subscribe grants,
// named), in the order of AcceptSubscription (gateway/core/
// subscription_request.h). Resume fields by precedence: Last-Event-ID
// header, lastEventId, since, last. live= and meta= take "1" or "0".
absl::StatusOr<SseRequest> ParseSseRequest(const SseRequestInput& input,
                                           const SseRequestPolicy& policy, absl::Time now);

// The WWW-Authenticate value (RFC 6750 section 3) for a refusal of
// ParseSseRequest with the same input and policy; empty when the refusal
// needs none (INVALID_ARGUMENT).
//   UNAUTHENTICATED, no token in the request:  Bearer realm="tailgate"
//   UNAUTHENTICATED, a token that failed:      ..., error="invalid_token", error_description="..."
//   PERMISSION_DENIED:                         ..., error="insufficient_scope", error_description="..."
// The description is the refusal's message, reduced to the characters the
// RFC allows in it (printable ASCII without '"' and '\').
std::string BearerChallenge(const SseRequestInput& input, const SseRequestPolicy& policy,
                            const absl::Status& refusal);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SSE_REQUEST_H_

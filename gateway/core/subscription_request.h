// The one decision whether a subscription request (SSE GET /v1/events and
// /v1/position, gRPC Subscribe and GetPosition) is accepted, and where it
// starts. Each transport finds its fields and the token in its own way and
// names the fields in its own words; the rules are here:
//
//   1. Authentication first: an anonymous or bad token is refused before
//      anything else is looked at (UNAUTHENTICATED), so an anonymous client
//      learns nothing about the request's validity.
//   2. Topics: at least one, at most max_topics, each a valid pattern
//      (INVALID_ARGUMENT naming the pattern).
//   3. Resume point: every resume field present must be valid, checked in
//      precedence order; the first present wins (none: live only).
//   4. The transport's own fields (e.g. SSE live=/meta=).
//   5. Authorization last: every pattern inside the token's subscribe grants
//      (PERMISSION_DENIED naming the pattern).
//
// Pure and thread-safe.
#ifndef TAILGATE_GATEWAY_CORE_SUBSCRIPTION_REQUEST_H_
#define TAILGATE_GATEWAY_CORE_SUBSCRIPTION_REQUEST_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/auth/verifier.h"
#include "gateway/core/resume.h"
#include "store/topic.h"

namespace tailgate {

// One resume field present in the request, as received.
struct ResumeField {
  enum class Kind { kAfterId, kSince, kLast };
  Kind kind;
  std::string_view name;  // In refusals: "Last-Event-ID header", "after_id", ...
  std::string_view text;
};

struct SubscriptionRequest {
  // Absent: the transport requires no token. Otherwise the outcome of
  // verifying the request's token (refused first when not OK).
  std::optional<absl::StatusOr<Grants>> authentication;

  std::vector<std::string_view> topics;
  // The transport's wording: the field the count refusals name ("topics"),
  // the whole refusal when there are none, and the name of the i-th pattern
  // (e.g. "topics[1]").
  std::string_view topics_field;
  std::string_view no_topics_message;
  std::string (*pattern_field)(size_t index, std::string_view text) = nullptr;
  size_t max_topics = 16;

  // The resume fields present, highest precedence first.
  std::vector<ResumeField> resume;

  // The transport's own fields, already checked: refused (as is) after the
  // resume point and before authorization.
  absl::Status transport_fields;
};

// An accepted subscription.
struct AcceptedSubscription {
  std::vector<store::TopicPattern> patterns;
  ResumeSpec resume;    // kLive when no resume field was given.
  std::string subject;  // The token's `sub` (empty without auth).
  // When the stream must end: the token's Grants::valid_until;
  // InfiniteFuture without auth.
  absl::Time valid_until = absl::InfiniteFuture();
};

absl::StatusOr<AcceptedSubscription> AcceptSubscription(const SubscriptionRequest& request);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CORE_SUBSCRIPTION_REQUEST_H_

#include "gateway/sse/request.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/auth/token_extraction.h"
#include "gateway/core/subscription_request.h"
#include "gateway/http/query.h"
#include "gateway/sse/codec.h"
#include "store/absl_view.h"

namespace tailgate {

namespace {

// Printable ASCII without quotes: safe to echo in a one-line reason.
bool Echoable(std::string_view s) {
  if (s.size() > 80) return false;
  for (char c : s) {
    if (c < 0x21 || c > 0x7e || c == '"') return false;
  }
  return true;
}

// RFC 6750 section 3: error_description is %x20-21 / %x23-5B / %x5D-7E.
// Refusal messages quote topics with '"'; single quotes read the same.
std::string ErrorDescription(absl::string_view message) {
  constexpr size_t kMaxBytes = 200;  // A header line, not a body.
  std::string out;
  for (char c : message.substr(0, kMaxBytes)) {
    if (c == '"') {
      out += '\'';
    } else if (c < 0x20 || c > 0x7e || c == '\\') {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

// How a refusal names the i-th topic= parameter.
std::string PatternField(size_t index, std::string_view text) {
  return Echoable(text) ? absl::StrCat("topic=", AbslView(text))
                        : absl::StrCat("topic #", index + 1);
}

// A "1"/"0" query parameter, when present.
absl::Status ParseFlag(const std::optional<std::string>& value, absl::string_view name,
                       bool* out) {
  if (!value) return absl::OkStatus();
  if (*value != "0" && *value != "1") {
    return Invalid(absl::StrCat(name, ": want 1 or 0, got \"",
                                Echoable(*value) ? *value : "(unprintable)", "\""));
  }
  *out = *value == "1";
  return absl::OkStatus();
}

// The token's grants, or UNAUTHENTICATED.
absl::StatusOr<Grants> Authenticate(const SseRequestInput& input, const SseRequestPolicy& policy,
                                    absl::Time now) {
  absl::StatusOr<std::optional<ExtractedToken>> token =
      ExtractHttpToken(input.authorization, input.cookie, input.target, policy.token_sources);
  if (!token.ok()) return token.status();
  if (!token->has_value()) {
    std::string where = "an Authorization: Bearer header";
    if (!policy.token_sources.cookie_name.empty()) {
      absl::StrAppend(&where, ", the '", policy.token_sources.cookie_name, "' cookie");
    }
    if (policy.token_sources.allow_query_param) absl::StrAppend(&where, ", ?access_token=");
    return absl::UnauthenticatedError(absl::StrCat("a token is required (", where, ")"));
  }
  return policy.verifier->Verify((*token)->token, now);
}

}  // namespace

absl::StatusOr<SseRequest> ParseSseRequest(const SseRequestInput& input,
                                           const SseRequestPolicy& policy, absl::Time now) {
  SubscriptionRequest request;
  if (policy.verifier != nullptr) request.authentication = Authenticate(input, policy, now);

  std::vector<std::string> topics;
  std::optional<std::string> last_event_id_param;
  std::optional<std::string> since_param;
  std::optional<std::string> last_param;
  std::optional<std::string> live_param;
  std::optional<std::string> meta_param;
  for (auto& [name, value] : ParseQuery(QueryOf(input.target))) {
    if (name == "topic") {
      topics.push_back(std::move(value));
    } else if (name == "lastEventId") {
      if (!last_event_id_param) last_event_id_param = std::move(value);
    } else if (name == "since") {
      if (!since_param) since_param = std::move(value);
    } else if (name == "last") {
      if (!last_param) last_param = std::move(value);
    } else if (name == "live") {
      if (!live_param) live_param = std::move(value);
    } else if (name == "meta") {
      if (!meta_param) meta_param = std::move(value);
    }
    // Other parameters (e.g. cache busters, access_token) are ignored here.
  }
  request.topics.assign(topics.begin(), topics.end());
  request.topics_field = "topic";
  request.no_topics_message = "topic: at least one topic=PATTERN parameter is required";
  request.pattern_field = PatternField;
  request.max_topics = policy.max_topics;
  // Highest precedence first (sse/request.h).
  using Kind = ResumeField::Kind;
  if (!input.last_event_id.empty()) {
    request.resume.push_back({Kind::kAfterId, "Last-Event-ID header", input.last_event_id});
  }
  if (last_event_id_param) {
    request.resume.push_back({Kind::kAfterId, "lastEventId", *last_event_id_param});
  }
  if (since_param) request.resume.push_back({Kind::kSince, "since", *since_param});
  if (last_param) request.resume.push_back({Kind::kLast, "last", *last_param});

  SseRequest out;
  request.transport_fields = ParseFlag(live_param, "live", &out.live_marker);
  if (request.transport_fields.ok()) {
    request.transport_fields = ParseFlag(meta_param, "meta", &out.meta);
  }
  absl::StatusOr<AcceptedSubscription> accepted = AcceptSubscription(request);
  if (!accepted.ok()) return accepted.status();
  out.patterns = std::move(accepted->patterns);
  out.resume = accepted->resume;
  out.subject = std::move(accepted->subject);
  out.valid_until = accepted->valid_until;
  return out;
}

std::string BearerChallenge(const SseRequestInput& input, const SseRequestPolicy& policy,
                            const absl::Status& refusal) {
  constexpr absl::string_view kChallenge = "Bearer realm=\"tailgate\"";
  if (absl::IsPermissionDenied(refusal)) {
    return absl::StrCat(kChallenge, ", error=\"insufficient_scope\", error_description=\"",
                        ErrorDescription(refusal.message()), "\"");
  }
  if (!absl::IsUnauthenticated(refusal)) return std::string();
  // Asked again rather than told by ParseSseRequest: extraction is a cheap
  // scan of three strings, and this runs only for refusals.
  absl::StatusOr<std::optional<ExtractedToken>> token =
      ExtractHttpToken(input.authorization, input.cookie, input.target, policy.token_sources);
  // "SHOULD NOT include an error code" when the request had no credentials.
  if (token.ok() && !token->has_value()) return std::string(kChallenge);
  return absl::StrCat(kChallenge, ", error=\"invalid_token\", error_description=\"",
                      ErrorDescription(refusal.message()), "\"");
}

}  // namespace tailgate

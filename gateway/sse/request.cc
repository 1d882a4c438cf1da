#include "gateway/sse/request.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

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
  SseRequest out;
  std::optional<Grants> grants;
  if (policy.verifier != nullptr) {
    absl::StatusOr<Grants> g = Authenticate(input, policy, now);
    if (!g.ok()) return g.status();
    grants = *std::move(g);
    out.subject = grants->subject;
  }

  const std::string_view target = input.target;
  const size_t q = target.find('?');
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  std::vector<std::string> topics;
  std::optional<std::string> last_event_id_param;
  std::optional<std::string> since_param;
  std::optional<std::string> last_param;
  std::optional<std::string> live_param;
  std::optional<std::string> meta_param;
  for (auto& [name, value] : ParseQuery(query)) {
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
  if (topics.empty()) return Invalid("topic: at least one topic=PATTERN parameter is required");
  if (topics.size() > policy.max_topics) {
    return Invalid(absl::StrCat("topic: at most ", policy.max_topics,
                                " patterns per subscription, got ", topics.size()));
  }
  for (size_t i = 0; i < topics.size(); ++i) {
    const std::string field =
        Echoable(topics[i]) ? absl::StrCat("topic=", topics[i]) : absl::StrCat("topic #", i + 1);
    absl::StatusOr<store::TopicPattern> p = store::TopicPattern::Parse(topics[i], field);
    if (!p.ok()) return Invalid(p.status().message());
    out.patterns.push_back(*std::move(p));
  }

  // Every resume parameter given must be well-formed; the first present wins.
  std::optional<ResumeSpec> spec;
  if (!input.last_event_id.empty()) {
    absl::StatusOr<uint64_t> id = ParseEventId(input.last_event_id, "Last-Event-ID header");
    if (!id.ok()) return Invalid(id.status().message());
    spec = ResumeSpec{ResumeSpec::Kind::kAfterId, *id, {}, 0};
  }
  if (last_event_id_param) {
    absl::StatusOr<uint64_t> id = ParseEventId(*last_event_id_param, "lastEventId");
    if (!id.ok()) return Invalid(id.status().message());
    if (!spec) spec = ResumeSpec{ResumeSpec::Kind::kAfterId, *id, {}, 0};
  }
  if (since_param) {
    absl::StatusOr<ResumeSpec> since = ParseSince(*since_param, "since");
    if (!since.ok()) return Invalid(since.status().message());
    if (!spec) spec = *since;
  }
  if (last_param) {
    absl::StatusOr<uint64_t> last = ParseLast(*last_param, "last");
    if (!last.ok()) return Invalid(last.status().message());
    if (!spec) spec = ResumeSpec{ResumeSpec::Kind::kLast, 0, {}, *last};
  }
  absl::Status flags = ParseFlag(live_param, "live", &out.live_marker);
  if (flags.ok()) flags = ParseFlag(meta_param, "meta", &out.meta);
  if (!flags.ok()) return flags;
  out.resume = spec.value_or(ResumeSpec{});  // None: live only.

  if (grants) {
    if (absl::Status s = AuthorizeSubscribe(*grants, out.patterns); !s.ok()) return s;
    out.valid_until = grants->valid_until;
  }
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

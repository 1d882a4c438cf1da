// GET /v1/events request handling: tailgate::ParseSseRequest (what the SSE
// service runs on every request before taking the connection over) on an
// arbitrary target and Last-Event-ID / Authorization / Cookie headers, with
// and without auth; plus the log redaction of the target.
//
// Input: a mode byte (bit 0: auth on, bit 1: cookie "tg" read, bit 2:
// ?access_token= allowed), then lines: target, Last-Event-ID, Authorization,
// Cookie. An Authorization line "!p1,p2" becomes a validly signed HS256
// token granting subscribe to p1, p2 (so the authorization path is reached).
//
// Properties: refusals are INVALID_ARGUMENT / UNAUTHENTICATED /
// PERMISSION_DENIED with a one-line printable reason that never contains
// the token; an accepted request has 1..max_topics valid patterns, each
// covered by the token's grants when auth is on; without auth nothing is
// refused as UNAUTHENTICATED or PERMISSION_DENIED; the redacted target
// keeps no access_token value; the WWW-Authenticate challenge of a refusal
// is well-formed (RFC 6750 3) and names invalid_token only when a token came.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gateway/auth/redact.h"
#include "gateway/auth/token_extraction.h"
#include "gateway/sse/request.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/jwt_fuzz_util.h"
#include "gateway/auth/token_extraction.h"
#include "gateway/auth/redact.h"

using namespace tailgate::fuzz;  // NOLINT: a fuzz target's only code

namespace {

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += absl::StrCat("\\u00", u < 16 ? "0" : "", absl::Hex(u));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// "!a,b" -> "Bearer <HS256 token granting subscribe [a, b]>".
std::string SignedAuthorization(std::string_view spec) {
  std::string list;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string_view::npos) comma = spec.size();
    if (!list.empty()) list += ",";
    list += JsonQuote(spec.substr(start, comma - start));
    start = comma + 1;
  }
  const std::string payload =
      absl::StrCat(R"({"exp":1700000600,"sub":"fuzz","tailgate":{"subscribe":[)", list, "]}}");
  return "Bearer " + HmacSign(Base64Url(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64Url(payload));
}

// The WWW-Authenticate value of a refusal: RFC 6750 syntax, the right error
// code for what the request carried, and no token in it.
void CheckChallenge(const tailgate::SseRequestInput& input,
                    const tailgate::SseRequestPolicy& policy, const absl::Status& refusal,
                    const absl::StatusOr<std::optional<tailgate::ExtractedToken>>& token) {
  const std::string challenge = tailgate::BearerChallenge(input, policy, refusal);
  if (refusal.code() == absl::StatusCode::kInvalidArgument) {
    FUZZ_CHECK(challenge.empty());
    return;
  }
  constexpr std::string_view kBare = "Bearer realm=\"tailgate\"";
  const bool no_token = token.ok() && !token->has_value();
  if (refusal.code() == absl::StatusCode::kUnauthenticated && no_token) {
    FUZZ_CHECK(challenge == kBare);
    return;
  }
  const std::string_view error = refusal.code() == absl::StatusCode::kPermissionDenied
                                     ? ", error=\"insufficient_scope\", error_description=\""
                                     : ", error=\"invalid_token\", error_description=\"";
  const std::string prefix = std::string(kBare) + std::string(error);
  FUZZ_CHECK(challenge.size() > prefix.size() && challenge.compare(0, prefix.size(), prefix) == 0 &&
             challenge.back() == '"');
  const std::string_view description =
      std::string_view(challenge).substr(prefix.size(), challenge.size() - prefix.size() - 1);
  FUZZ_CHECK(!description.empty() && description.size() <= 200);
  for (char c : description) FUZZ_CHECK(c >= 0x20 && c <= 0x7e && c != '"' && c != '\\');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::vector<std::string_view> parts =
      SplitLines(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), 4);
  auto part = [&](size_t i) { return i < parts.size() ? parts[i] : std::string_view(); };
  std::string authorization(part(2));
  if (!authorization.empty() && authorization[0] == '!') {
    authorization = SignedAuthorization(std::string_view(authorization).substr(1));
  }
  tailgate::SseRequestPolicy policy;
  policy.max_topics = 4;
  if (mode & 1) policy.verifier = Get().hs.get();
  if (mode & 2) policy.token_sources.cookie_name = "tg";
  policy.token_sources.allow_query_param = (mode & 4) != 0;
  const tailgate::SseRequestInput input{part(0), part(1), authorization, part(3)};

  absl::StatusOr<tailgate::SseRequest> r = tailgate::ParseSseRequest(input, policy, kNow);

  // Any token the request carries, by every route; none may be echoed.
  absl::StatusOr<std::optional<tailgate::ExtractedToken>> token = tailgate::ExtractHttpToken(
      input.authorization, input.cookie, input.target, policy.token_sources);
  if (!r.ok()) {
    CheckChallenge(input, policy, r.status(), token);
    const absl::StatusCode code = r.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
               code == absl::StatusCode::kUnauthenticated ||
               code == absl::StatusCode::kPermissionDenied);
    if (policy.verifier == nullptr) FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument);
    const std::string_view message = SV(r.status().message());
    FUZZ_CHECK(!message.empty());
    FUZZ_CHECK(IsSafeMessage(message));
    if (token.ok() && token->has_value() && (*token)->token.size() >= 16) {
      // Unless the same text also came in elsewhere (a topic may be echoed)
      // or could be fixed message text (a real token is base64url and dots).
      const std::string& t = (*token)->token;
      std::string elsewhere = tailgate::RedactCredentials(input.target) + "\n";
      elsewhere.append(input.last_event_id);
      if ((*token)->source != tailgate::TokenSource::kCookie) {
        elsewhere += "\n";
        elsewhere.append(input.cookie);
      }
      const bool jws_chars = t.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == std::string::npos;
      if (jws_chars && elsewhere.find(t) == std::string::npos) {
        FUZZ_CHECK(message.find(t) == std::string_view::npos);
      }
    }
  } else {
    FUZZ_CHECK(!r->patterns.empty());
    FUZZ_CHECK(r->patterns.size() <= policy.max_topics);
    for (const auto& p : r->patterns) {
      FUZZ_CHECK(tailgate::store::TopicPattern::Parse(p.str()).ok());
    }
    if (policy.verifier != nullptr) {
      FUZZ_CHECK(token.ok() && token->has_value());
      absl::StatusOr<tailgate::Grants> grants = policy.verifier->Verify((*token)->token, kNow);
      FUZZ_CHECK(grants.ok());
      for (const auto& p : r->patterns) FUZZ_CHECK(grants->MaySubscribe(p));
      FUZZ_CHECK(r->subject == grants->subject);
    } else {
      FUZZ_CHECK(r->subject.empty());
    }
  }

  // What the service logs: no access_token value survives.
  const std::string redacted = tailgate::RedactCredentials(input.target);
  tailgate::TokenSources query_only;
  query_only.allow_query_param = true;
  absl::StatusOr<std::optional<tailgate::ExtractedToken>> leaked =
      tailgate::ExtractHttpToken("", "", redacted, query_only);
  if (leaked.ok() && leaked->has_value()) FUZZ_CHECK((*leaked)->token == "REDACTED");
  return 0;
}

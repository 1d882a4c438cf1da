#include "gateway/auth/token_extraction.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/auth/base64url.h"
#include "gateway/http/query.h"
#include "store/absl_view.h"

namespace tailgate {

namespace {

// Debian's Abseil is built with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0).

constexpr std::string_view kQueryParam = "access_token";

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsB64TokenChar(char c) {
  return IsBase64UrlChar(c) || c == '.' || c == '~' || c == '+' || c == '/';
}

// RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool IsB64Token(std::string_view v) {
  size_t i = 0;
  while (i < v.size() && IsB64TokenChar(v[i])) ++i;
  while (i < v.size() && v[i] == '=') ++i;
  return i == v.size() && !v.empty() && v.front() != '=';
}

}  // namespace

absl::StatusOr<std::string> ParseBearer(std::string_view authorization) {
  std::string_view v = TrimOws(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (v.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(AbslView(v.substr(0, kScheme.size())), AbslView(kScheme)) ||
      (v.size() > kScheme.size() && v[kScheme.size()] != ' ')) {
    return absl::UnauthenticatedError("the Authorization header is not a Bearer token");
  }
  v = TrimOws(v.substr(kScheme.size()));
  if (v.empty()) return absl::UnauthenticatedError("the Authorization Bearer token is empty");
  if (!IsB64Token(v)) {
    return absl::UnauthenticatedError(
        "the Authorization Bearer token has characters outside the token68 syntax");
  }
  return std::string(v);
}

std::optional<std::string> FindCookie(std::string_view cookie_header, std::string_view name) {
  if (name.empty()) return std::nullopt;
  size_t start = 0;
  while (start <= cookie_header.size()) {
    size_t semi = cookie_header.find(';', start);
    if (semi == std::string_view::npos) semi = cookie_header.size();
    const std::string_view pair = TrimOws(cookie_header.substr(start, semi - start));
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && TrimOws(pair.substr(0, eq)) == name) {
      std::string_view value = TrimOws(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
    start = semi + 1;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<ExtractedToken>> ExtractHttpToken(std::string_view authorization,
                                                               std::string_view cookie,
                                                               std::string_view target,
                                                               const TokenSources& sources) {
  using Result = std::optional<ExtractedToken>;
  if (!TrimOws(authorization).empty()) {
    absl::StatusOr<std::string> token = ParseBearer(authorization);
    if (!token.ok()) return token.status();
    return Result(ExtractedToken{*std::move(token), TokenSource::kAuthorizationHeader});
  }
  if (!sources.cookie_name.empty()) {
    std::optional<std::string> value = FindCookie(cookie, sources.cookie_name);
    if (value.has_value() && !value->empty()) {
      return Result(ExtractedToken{*std::move(value), TokenSource::kCookie});
    }
  }
  // The parameters whose decoded name is access_token (a fragment, should
  // one arrive, is query text: whatever is parsed is also redacted).
  std::vector<RawQueryParam> found;
  for (const RawQueryParam& p : SplitQuery(QueryOf(target))) {
    if (UrlDecode(p.name) == kQueryParam) found.push_back(p);
  }
  if (found.empty()) return Result();
  if (!sources.allow_query_param) {
    return absl::UnauthenticatedError(
        absl::StrCat("the access_token query parameter is disabled on this server; send the token "
                     "in an Authorization: Bearer header",
                     sources.cookie_name.empty()
                         ? std::string()
                         : absl::StrCat(" or the '", sources.cookie_name, "' cookie")));
  }
  if (found.size() > 1) {
    return absl::UnauthenticatedError("the access_token query parameter is repeated");
  }
  std::string value = UrlDecode(found.front().value);
  if (value.empty()) return absl::UnauthenticatedError("the access_token query parameter is empty");
  // The syntax a Bearer header's token must have; a malformed %-escape,
  // kept literally by the decoder, leaves a '%' and fails here.
  if (!IsB64Token(value)) {
    return absl::UnauthenticatedError(
        "the access_token query parameter has characters outside the token68 syntax");
  }
  return Result(ExtractedToken{std::move(value), TokenSource::kQueryParam});
}

}  // namespace tailgate

#include "gateway/auth/redact.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "gateway/auth/base64url.h"
#include "gateway/http/query.h"

namespace tailgate {

namespace {

constexpr std::string_view kRedacted = "REDACTED";

// Whether a query parameter named `name` (as received) carries a credential:
// its decoded name, lower-cased without '-', '_', '.' or spaces, is one of the
// usual short names or contains one of the usual stems. Deliberately broad:
// a wrongly spelled access_token (`Access_Token`, `access-token`, `token`,
// `jwt`...) must not reach a log, and redacting a harmless parameter costs
// only a little debugging detail.
bool IsCredentialName(std::string_view name) {
  std::string n;
  for (char c : UrlDecode(name)) {
    if (c == '-' || c == '_' || c == '.' || c == ' ') continue;
    n.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  for (std::string_view exact : {"key", "sig", "code", "auth", "pass", "pwd", "sid", "otp"}) {
    if (n == exact) return true;
  }
  for (std::string_view stem : {"token", "jwt", "secret", "passw", "apikey", "bearer", "credential",
                                "authoriz", "session", "signature", "cookie"}) {
    if (n.find(stem) != std::string::npos) return true;
  }
  return false;
}

// Whether `text` contains something shaped like a compact JWT (JWS: three
// dot-separated base64url parts; JWE: five) whose first part decodes to a
// JSON object naming an "alg", as every JOSE header does. The header check
// keeps ordinary dotted values (topics such as "orders.eu.1") readable.
bool ContainsJwt(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (!IsBase64UrlChar(text[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && (IsBase64UrlChar(text[j]) || text[j] == '.')) ++j;
    const std::string_view run = text.substr(i, j - i);
    i = j;
    const size_t dot = run.find('.');
    if (dot == std::string_view::npos || dot == 0) continue;
    size_t parts = 1;
    for (char c : run) parts += c == '.' ? 1 : 0;
    if (parts != 3 && parts != 5) continue;
    const std::optional<std::string> header = Base64UrlDecode(run.substr(0, dot));
    if (!header) continue;
    const size_t first = header->find_first_not_of(" \t\r\n");
    if (first != std::string::npos && (*header)[first] == '{' &&
        header->find("\"alg\"") != std::string::npos) {
      return true;
    }
  }
  return false;
}

// Whether one query parameter's value (raw) must not be logged.
bool IsCredentialValue(std::string_view raw) {
  const std::string decoded = UrlDecode(raw);
  if (ContainsJwt(raw) || ContainsJwt(decoded)) return true;
  // "a=1;token=..." style sub-parameters inside a value.
  const std::string_view value = decoded;
  for (size_t start = 0; start < value.size();) {
    size_t end = value.find_first_of(";&", start);
    if (end == std::string_view::npos) end = value.size();
    const std::string_view piece = value.substr(start, end - start);
    const size_t eq = piece.find('=');
    if (eq != std::string_view::npos && IsCredentialName(piece.substr(0, eq))) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::string RedactCredentials(std::string_view target) {
  std::string out;
  out.reserve(target.size());
  const size_t q = std::min(target.find('?'), target.size());
  // The path: a segment that carries a JWT goes whole.
  for (size_t start = 0; start < q;) {
    size_t end = target.find('/', start);
    if (end == std::string_view::npos || end > q) end = q;
    const std::string_view segment = target.substr(start, end - start);
    out.append(ContainsJwt(segment) || ContainsJwt(UrlDecode(segment))
                   ? std::string_view(kRedacted)
                   : segment);
    if (end < q) out.push_back('/');
    start = end + 1;
  }
  if (q == target.size()) return out;
  out.push_back('?');
  // The query, split as ExtractHttpToken splits it (gateway/http/query.h):
  // name=value keeps its name and loses its value; a bare parameter that is
  // a JWT goes whole.
  bool first = true;
  for (const RawQueryParam& p : SplitQuery(target.substr(q + 1))) {
    if (!first) out.push_back('&');
    first = false;
    if (!p.has_value) {
      out.append(IsCredentialValue(p.name) ? std::string_view(kRedacted) : p.name);
      continue;
    }
    out.append(p.name);
    out.push_back('=');
    out.append(IsCredentialName(p.name) || IsCredentialValue(p.value) ? std::string_view(kRedacted)
                                                                      : p.value);
  }
  return out;
}

}  // namespace tailgate

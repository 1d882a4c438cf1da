// Finding the token of a request: the Authorization header, the cookie or
// the access_token query parameter of an HTTP request (SSE), and the
// authorization metadata of a gRPC call. Only where the token is and its
// syntax; whether it is valid is the verifier's question (verifier.h).
//
// Pure functions; thread-safe. Results are copies the caller owns.
#ifndef TAILGATE_GATEWAY_AUTH_TOKEN_EXTRACTION_H_
#define TAILGATE_GATEWAY_AUTH_TOKEN_EXTRACTION_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tailgate {

// The token of an `Authorization` value "Bearer <token>" (scheme
// case-insensitive). UNAUTHENTICATED when the value is another scheme or malformed.
absl::StatusOr<std::string> ParseBearer(std::string_view authorization);

// The value of cookie `name` in a Cookie header ("a=1; b=2"; a quoted value is
// unquoted), or nullopt. The first cookie of that name wins.
std::optional<std::string> FindCookie(std::string_view cookie_header, std::string_view name);

struct TokenSources {
  // Cookie carrying the token; empty disables cookies.
  std::string cookie_name;
  // Accept `?access_token=` (opt-in: query strings end up in logs and history).
  bool allow_query_param = false;
};

enum class TokenSource { kAuthorizationHeader, kCookie, kQueryParam };

struct ExtractedToken {
  std::string token;
  TokenSource source;
};

// The token of an HTTP request, looked for in this order: the Authorization
// header, the cookie, the `access_token` query parameter. The first source
// present decides: a malformed Authorization header is an error, not a
// fallthrough. nullopt when no source carries a token; UNAUTHENTICATED for a
// malformed header, a repeated access_token, an access_token while the query
// parameter is disabled, or one whose decoded value (gateway/http/query.h) is
// empty or not token68, the syntax a Bearer header's token must have.
// `authorization` / `cookie` are the header values (empty when absent);
// `target` is the request target ("/v1/events?...").
absl::StatusOr<std::optional<ExtractedToken>> ExtractHttpToken(std::string_view authorization,
                                                               std::string_view cookie,
                                                               std::string_view target,
                                                               const TokenSources& sources);

// The bearer token in gRPC client metadata (`authorization: Bearer ...`), or
// nullopt when there is none. UNAUTHENTICATED when malformed or repeated.
// `Metadata` is grpc::ServerContext::client_metadata()'s multimap (kept a
// template so this library does not depend on gRPC).
template <typename Metadata>
absl::StatusOr<std::optional<std::string>> ExtractGrpcToken(const Metadata& metadata) {
  auto range = metadata.equal_range("authorization");
  if (range.first == range.second) return std::optional<std::string>();
  auto next = range.first;
  if (++next != range.second) {
    return absl::UnauthenticatedError("more than one authorization metadata entry");
  }
  absl::StatusOr<std::string> token = ParseBearer(
      std::string_view(range.first->second.data(), range.first->second.size()));
  if (!token.ok()) return token.status();
  return std::optional<std::string>(*std::move(token));
}

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_AUTH_TOKEN_EXTRACTION_H_

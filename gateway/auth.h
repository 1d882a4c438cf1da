// JWT authentication and topic authorization for subscribers and publishers.
//
//   AuthConfig config;
//   config.algorithms = {"RS256"};
//   config.public_key_pem = <contents of --jwt_public_key_file>;
//   auto verifier = JwtVerifier::Create(config);          // once, at start-up
//   absl::StatusOr<Grants> grants = (*verifier)->Verify(token, absl::Now());
//   if (!grants.ok()) -> 401 / UNAUTHENTICATED with grants.status().message()
//   if (absl::Status s = AuthorizeSubscribe(*grants, patterns); !s.ok()) -> 403
//
// Token format: a compact JWS (header.payload.signature). Claims:
//
//   {"sub": "svc-orders", "exp": 1735689600, "nbf": ..., "iss": ..., "aud": ...,
//    "tailgate": {"subscribe": ["orders.>"], "publish": ["orders.*"], "admin": false}}
//
// Rules (each enforced by Verify; every failure is UNAUTHENTICATED with a
// message that never contains the token or its signature):
//   - the header's `alg` must be in the configured allow-list; `none` can
//     never be configured, so unsigned tokens are always refused;
//   - the key is chosen by the configured key's type, never by the token:
//     HS* tokens are checked only against the HMAC secret, RS* only against
//     RSA public keys, ES* only against EC public keys of the matching curve.
//     A public key is never used as an HMAC secret (algorithm confusion);
//   - `exp` is required (a leaked token without one would be valid forever)
//     and checked as now < exp + leeway; `nbf`, when present, as
//     now >= nbf - leeway;
//   - `iss` / `aud` are checked when configured;
//   - a `crit` header is refused (no extensions are understood);
//   - the `tailgate` claim (name configurable) is optional: without it the
//     token authenticates but grants nothing. When present it must be an
//     object whose `subscribe` / `publish` members, when present, are arrays
//     of valid patterns (store/topic.h); anything else refuses the token.
//
// Libraries: libjwt (HMAC verification, base64url, JOSE header), jansson
// (claim types), OpenSSL (key loading; RS*/ES* verification with EVP on keys
// parsed once in Create). No cryptography here.
#ifndef TAILGATE_GATEWAY_AUTH_H_
#define TAILGATE_GATEWAY_AUTH_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/config.h"  // AuthConfig
#include "store/topic.h"

namespace tailgate {

namespace auth_internal {
struct VerifierKey;  // defined in auth.cc
}  // namespace auth_internal


// Most characters a token may have; longer ones are refused unparsed.
inline constexpr size_t kMaxTokenBytes = 8192;
// Most patterns per grant list in one token.
inline constexpr size_t kMaxGrantPatterns = 256;

// What a verified token allows. A value type; thread-compatible.
struct Grants {
  std::vector<store::TopicPattern> subscribe;
  std::vector<store::TopicPattern> publish;
  // `admin: true` in the claim object: may call tailgate.v1.Admin.
  bool admin = false;
  std::string subject;  // `sub`, empty when absent
  absl::Time expires = absl::InfinitePast();  // `exp`
  // `exp` plus the verifier's leeway: the first instant Verify refuses the
  // token. Whatever the token opened (an SSE stream, a Subscribe call) ends
  // here, so a stream never outlives the token that authorized it.
  absl::Time valid_until = absl::InfinitePast();

  // True when every topic `requested` can match is matched by some pattern
  // in `subscribe` (see PatternsCover).
  bool MaySubscribe(const store::TopicPattern& requested) const;
  // True when some pattern in `publish` matches the topic.
  bool MayPublish(std::string_view topic) const;
};

// How long a stream opened with a token valid until `valid_until` may run
// from `now`: clamped to [0, a century], so a steady-clock deadline derived
// from it stays in the clock's range for any `exp` a token carries.
absl::Duration TokenTimeLeft(absl::Time valid_until, absl::Time now);

// One public key of a JWKS document: its `kid` and SubjectPublicKeyInfo PEM.
struct KeyedPublicKey {
  std::string kid;
  std::string pem;
};

// Verifies tokens against one configuration. Immutable after Create except
// for the JWKS key set (SetJwksKeys); Verify is thread-safe.
//
// JWKS keys are chosen by the token header's `kid`: a token whose `kid`
// names a JWKS key is checked against that key only; a token without `kid`
// against every key of its type. Keys from public_key_pem (no kid) are
// tried for every token, as before.
class JwtVerifier {
 public:
  // INVALID_ARGUMENT naming the problem when the configuration is unusable:
  // empty or unknown algorithm, `none`, an algorithm without a suitable key,
  // a short HMAC secret, an unparsable or weak public key, negative leeway.
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(const AuthConfig& config);

  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // The grants of a valid token, else UNAUTHENTICATED with the reason.
  absl::StatusOr<Grants> Verify(std::string_view token, absl::Time now) const;

  // Replaces the JWKS keys as a whole (keys not in `keys` are refused from
  // now on). INVALID_ARGUMENT naming the kid when a key is unusable (weak
  // RSA, unsupported type); the current set is kept then. Thread-safe: a
  // Verify running concurrently uses the old or the new set.
  absl::Status SetJwksKeys(const std::vector<KeyedPublicKey>& keys);
  // JWKS keys held now.
  size_t jwks_key_count() const;
  // Runs, on the verifying thread, when a token names a `kid` that no JWKS
  // key has (a key rotated in at the provider). Must be cheap and must not
  // block. Set before the verifier is used.
  void set_unknown_kid_hook(std::function<void()> hook) { unknown_kid_hook_ = std::move(hook); }
  // A last check of every token that verified, by its subject: a non-OK
  // status refuses the token with that status (revoked subjects,
  // gateway/revocations.h). Here, so that every transport refuses alike. Set
  // once before serving (not thread-safe against Verify); `check` must be
  // thread-safe and must not block.
  using SubjectCheck = std::function<absl::Status(std::string_view subject, absl::Time now)>;
  void set_subject_check(SubjectCheck check) { subject_check_ = std::move(check); }

 private:
  explicit JwtVerifier(AuthConfig config);
  using KeySet = std::vector<auth_internal::VerifierKey>;
  std::shared_ptr<const KeySet> jwks_keys() const;

  AuthConfig config_;
  std::vector<auth_internal::VerifierKey> keys_;
  // std::mutex (visible to ThreadSanitizer); held only to copy the pointer.
  mutable std::mutex jwks_mu_;
  std::shared_ptr<const KeySet> jwks_keys_;  // Guarded by jwks_mu_; never null.
  std::function<void()> unknown_kid_hook_;
  SubjectCheck subject_check_;
};

// Pattern containment: true when every topic matched by `requested` is
// matched by at least one pattern in `granted` (the union counts: grants
// {"a.*", "a.*.>"} together cover "a.>"). Exact over the topic grammar, with
// one deliberate conservatism: it ignores the 255-byte topic limit, so it
// never allows more, and refuses only contrived patterns already near the limit.
bool PatternsCover(const std::vector<store::TopicPattern>& granted,
                   const store::TopicPattern& requested);

// PERMISSION_DENIED naming the first pattern the grants do not cover, e.g.
// `token does not allow subscribing to "users.1"`.
absl::Status AuthorizeSubscribe(const Grants& grants,
                                const std::vector<store::TopicPattern>& requested);
// PERMISSION_DENIED naming the topic when the grants do not allow publishing to it.
absl::Status AuthorizePublish(const Grants& grants, std::string_view topic);

// ---------------------------------------------------------------------------
// Finding the token in a request.

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
// malformed header, a repeated access_token, or an access_token while the
// query parameter is disabled. `authorization` / `cookie` are the header
// values (empty when absent); `target` is the request target ("/v1/events?...").
absl::StatusOr<std::optional<ExtractedToken>> ExtractHttpToken(std::string_view authorization,
                                                               std::string_view cookie,
                                                               std::string_view target,
                                                               const TokenSources& sources);

// `target` ("/path?query") fit for a log: every credential replaced by
// "REDACTED", everything else byte for byte. The one function for every
// logged request target, since a client may put a token anywhere:
//  - a query parameter whose name is credential-like in any spelling
//    (access_token, Access_Token, access-token, token, jwt, id_token,
//    api_key, password, session, ...; case, '-', '_' and '.' ignored):
//    its value;
//  - any query value (or bare parameter, or path segment) containing a
//    compact JWT (xxx.yyy.zzz base64url whose header decodes to a JSON
//    object), %-encoded or not, or a `;name=`/`&name=` credential inside it:
//    the value (or parameter, or segment) whole.
// Idempotent. Names are kept, so the log still shows which parameter came.
std::string RedactCredentials(std::string_view target);

// Unpadded base64url (RFC 7515 section 2) to bytes, with OpenSSL's decoder;
// nullopt when malformed (a character outside the alphabet, a bad length).
std::optional<std::string> Base64UrlDecode(std::string_view in);

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

#endif  // TAILGATE_GATEWAY_AUTH_H_

// JWT verification: parsing a compact JWS, checking its signature against the
// configured keys, and reading its claims into Grants (grants.h).
//
//   AuthConfig config;
//   config.algorithms = {"RS256"};
//   config.public_key_pem = <contents of --jwt_public_key_file>;
//   auto verifier = JwtVerifier::Create(config);          // once, at start-up
//   absl::StatusOr<Grants> grants = (*verifier)->Verify(token, absl::Now());
//   if (!grants.ok()) -> 401 / UNAUTHENTICATED with grants.status().message()
//   then AuthorizeSubscribe / AuthorizePublish (grants.h) -> 403
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
// parsed once in Create, keys.h). Ownership: the caller owns the verifier;
// it holds copies of the configuration and keys.
#ifndef TAILGATE_GATEWAY_AUTH_VERIFIER_H_
#define TAILGATE_GATEWAY_AUTH_VERIFIER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/auth/grants.h"
#include "gateway/config.h"  // AuthConfig

namespace tailgate {

namespace auth_internal {
struct VerifierKey;  // gateway/auth/keys.h
}  // namespace auth_internal

// Most characters a token may have; longer ones are refused unparsed.
inline constexpr size_t kMaxTokenBytes = 8192;

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
  // revocations.h). Here, so that every transport refuses alike. Set once
  // before serving (not thread-safe against Verify); `check` must be
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

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_AUTH_VERIFIER_H_

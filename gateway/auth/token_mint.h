// Development tokens (`tailgatectl token`): a JWT the gateway's verifier
// (verifier.h) accepts, with the same claims it reads:
//
//   {"sub": ..., "iat": now, "exp": now + ttl, "iss"?: ..., "aud"?: ...,
//    "<claim>": {"subscribe": [...], "publish": [...], "admin": bool}}
//
// Signed by libjwt (HS* with a shared secret; RS*/ES* with a PEM private key,
// which OpenSSL parses here only to pick the algorithm and refuse a key that
// cannot go with it). The rules mirror JwtVerifier::Create's, so a token that
// mints is one a gateway configured with the matching key verifies.
#ifndef TAILGATE_GATEWAY_AUTH_TOKEN_MINT_H_
#define TAILGATE_GATEWAY_AUTH_TOKEN_MINT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tailgate {

struct TokenSpec {
  // The key file's contents: a PEM private key (RSA, or EC on P-256/384/521)
  // or an HMAC secret (one trailing newline ignored, as the gateway does).
  std::string key;
  // "" = from the key: RS256 for RSA, ES256/384/512 by curve, HS256 otherwise.
  std::string algorithm;
  std::string subject;
  std::vector<std::string> subscribe;  // patterns (store/topic.h)
  std::vector<std::string> publish;
  bool admin = false;
  absl::Duration ttl = absl::Hours(1);
  std::string issuer;    // "" = no iss
  std::string audience;  // "" = no aud
  std::string claim = "tailgate";
};

// The compact JWS, or INVALID_ARGUMENT naming the problem (a public key, an
// algorithm the key cannot sign, a short secret, a bad pattern, ttl <= 0).
absl::StatusOr<std::string> MintToken(const TokenSpec& spec, absl::Time now);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_AUTH_TOKEN_MINT_H_

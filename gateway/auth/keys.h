// Verification keys and the JWS algorithms they serve: loading PEM public
// keys once (at start-up, or when a JWKS is fetched) and checking RS*/ES*
// signatures with OpenSSL. Internal to gateway/auth (the verifier and its
// JWKS key set); nothing here reads a token's claims.
//
// Thread-safety: the functions are pure; a VerifierKey is immutable once
// built and may be shared between threads (an EVP_PKEY is safe to share for
// verification in OpenSSL 3: each call makes its own EVP_MD_CTX).
#ifndef TAILGATE_GATEWAY_AUTH_KEYS_H_
#define TAILGATE_GATEWAY_AUTH_KEYS_H_

#include <jwt.h>
#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace tailgate {
namespace auth_internal {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// One usable verification key. HMAC secrets go to libjwt (`material`);
// public keys are parsed once into `pkey` and used with OpenSSL's EVP
// verification directly: libjwt 1.10 would re-parse the PEM on every call
// (~1 ms).
struct VerifierKey {
  enum class Kind { kHmac, kRsa, kEc };
  Kind kind;
  std::string curve;  // OpenSSL group name for kEc ("prime256v1", ...)
  std::string material;  // kHmac: the secret
  std::shared_ptr<EVP_PKEY> pkey;  // kRsa, kEc
  size_t ec_coordinate_bytes = 0;  // kEc: bytes of r (and of s) in a JWS signature
  std::string kid;  // JWKS keys only
};

struct Algorithm {
  const char* name;
  jwt_alg_t alg;
  VerifierKey::Kind kind;
  size_t min_secret_bytes;  // kHmac: RFC 7518 3.2, at least the hash size
  const char* curve;        // kEc: the curve RFC 7518 3.4 pairs it with
  int hash_bits;            // SHA-2 variant
};

// HS256/384/512, RS256/384/512, ES256/384/512 by name; nullptr otherwise
// (`none` included).
const Algorithm* FindAlgorithm(std::string_view name);

// Appends every `PUBLIC KEY` block of `pem` to `keys`. INVALID_ARGUMENT when
// there is none, or one is a weak RSA key, an EC key on an unnamed curve or
// of another type.
absl::Status LoadPublicKeys(const std::string& pem, std::vector<VerifierKey>* keys);

// RS*/ES* signature check of `signing_input` (header.payload):
// RSASSA-PKCS1-v1_5 (RFC 7518 3.3), or ECDSA with the JWS r||s encoding
// (RFC 7518 3.4) converted to DER for OpenSSL. `key` is kRsa or kEc.
bool VerifyPublicKeySignature(const VerifierKey& key, const Algorithm& alg,
                              std::string_view signing_input, const std::string& signature);

}  // namespace auth_internal
}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_AUTH_KEYS_H_

// Making JWTs in tests: base64url, test keys, HS256 / RS256 signing.
//
// One copy for the Bazel suites (tests/security) and the libFuzzer targets
// (tests/fuzz), which tests/fuzz/run.sh compiles with clang outside Bazel, so
// this header needs only OpenSSL and the standard library: no gtest, no absl.
// The gateway verifies with libjwt + OpenSSL; signing here goes through
// OpenSSL directly, so a token the tests make does not depend on the code it
// tests. Not for production: errors abort rather than being reported.
#ifndef TAILGATE_TESTS_TESTING_JWT_TESTING_H_
#define TAILGATE_TESTS_TESTING_JWT_TESTING_H_

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace tailgate::testing {

inline constexpr std::string_view kHs256Header = R"({"alg":"HS256","typ":"JWT"})";
inline constexpr std::string_view kRs256Header = R"({"alg":"RS256","typ":"JWT"})";

// A broken test fixture (key generation, PEM encoding) is not a test result:
// stop with a message rather than sign with a null key.
inline void JwtTestingCheck(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "jwt_testing: %s failed\n", what);
    std::abort();
  }
}

// RFC 7515 base64url: the URL-safe alphabet, no padding.
inline std::string Base64Url(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

inline Pkey NewRsaKey() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  JwtTestingCheck(key != nullptr, "RSA key generation");
  return key;
}

// `curve` is an OpenSSL group name, e.g. "P-256".
inline Pkey NewEcKey(const char* curve) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  JwtTestingCheck(key != nullptr, "EC key generation");
  return key;
}

// The SubjectPublicKeyInfo PEM of `key`, as --jwt_public_key_file holds it.
inline std::string PublicPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  JwtTestingCheck(bio != nullptr && PEM_write_bio_PUBKEY(bio, key) == 1, "PEM encoding");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

// "<signing_input>.<signature>" for an already encoded "header.payload"; the
// fuzz targets use it to put arbitrary bytes in either part.
inline std::string AppendHs256Signature(std::string_view signing_input, std::string_view secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  JwtTestingCheck(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size(), mac, &len) != nullptr,
                  "HMAC-SHA256");
  std::string token(signing_input);
  token += '.';
  token += Base64Url(std::string_view(reinterpret_cast<const char*>(mac), len));
  return token;
}

// A compact JWS of the JSON texts `header` and `payload`.
inline std::string SignHs256(std::string_view header, std::string_view payload,
                             std::string_view secret) {
  return AppendHs256Signature(Base64Url(header) + "." + Base64Url(payload), secret);
}

inline std::string SignRs256(std::string_view header, std::string_view payload, EVP_PKEY* key) {
  const std::string input = Base64Url(header) + "." + Base64Url(payload);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  JwtTestingCheck(ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                      EVP_DigestSign(ctx, nullptr, &len, in, input.size()) == 1,
                  "RS256 signing");
  std::string sig(len, '\0');
  JwtTestingCheck(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                                 input.size()) == 1,
                  "RS256 signing");
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return input + "." + Base64Url(sig);
}

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_TESTING_JWT_TESTING_H_

// Shared by the JWT fuzz targets: test keys, signing, and the properties
// every Verify result must have.
#ifndef TAILGATE_TESTS_FUZZ_JWT_FUZZ_UTIL_H_
#define TAILGATE_TESTS_FUZZ_JWT_FUZZ_UTIL_H_

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/auth.h"
#include "tests/fuzz/fuzz_util.h"

namespace tailgate::fuzz {


inline const absl::Time kNow = absl::FromUnixSeconds(1700000000);
inline const std::string kSecret = "fuzz-secret-fuzz-secret-fuzz-sec";  // 32 bytes

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

inline std::string HmacSign(const std::string& signing_input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &len);
  return signing_input + "." + Base64Url(std::string_view(reinterpret_cast<char*>(mac), len));
}

inline std::string PublicPem(const char* type, const char* param) {
  EVP_PKEY* key = std::string_view(type) == "RSA"
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", param);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

struct Verifiers {
  std::unique_ptr<tailgate::JwtVerifier> hs, rs, es;
};

inline const Verifiers& Get() {
  static const Verifiers* v = [] {
    auto* out = new Verifiers;
    tailgate::AuthConfig c;
    c.algorithms = {"HS256"};
    c.hs256_secret = kSecret;
    out->hs = *tailgate::JwtVerifier::Create(c);
    c = tailgate::AuthConfig();
    c.algorithms = {"RS256"};
    c.public_key_pem = PublicPem("RSA", nullptr);
    out->rs = *tailgate::JwtVerifier::Create(c);
    c.algorithms = {"ES256"};
    c.public_key_pem = PublicPem("EC", "P-256");
    out->es = *tailgate::JwtVerifier::Create(c);
    return out;
  }();
  return *v;
}

inline void CheckVerify(const tailgate::JwtVerifier& v, std::string_view token) {
  absl::StatusOr<tailgate::Grants> g = v.Verify(token, kNow);
  if (!g.ok()) {
    FUZZ_CHECK(g.status().code() == absl::StatusCode::kUnauthenticated);
    FUZZ_CHECK(IsSafeMessage(SV(g.status().message())));
    // Never echo the token or its signature (checked where long enough that
    // a fixed message text cannot contain it by chance).
    const std::string_view message = SV(g.status().message());
    const size_t dot = token.rfind('.');
    const std::string_view signature =
        dot == std::string_view::npos ? std::string_view() : token.substr(dot + 1);
    const bool base64url = std::all_of(signature.begin(), signature.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
    if (signature.size() >= 16 && base64url) {
      FUZZ_CHECK(message.find(signature) == std::string_view::npos);
    }
    return;
  }
  FUZZ_CHECK(kNow < g->expires + absl::Seconds(30));
  FUZZ_CHECK(g->subscribe.size() <= tailgate::kMaxGrantPatterns);
  FUZZ_CHECK(g->publish.size() <= tailgate::kMaxGrantPatterns);
  for (const auto& p : g->subscribe) FUZZ_CHECK(g->MaySubscribe(p));
}

}  // namespace tailgate::fuzz

#endif  // TAILGATE_TESTS_FUZZ_JWT_FUZZ_UTIL_H_

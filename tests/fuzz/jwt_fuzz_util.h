// Shared by the JWT fuzz targets: one verifier per algorithm family (keys
// made once per process), HS256 signing with the fuzz secret, and the
// properties every Verify result must have.
#ifndef TAILGATE_TESTS_FUZZ_JWT_FUZZ_UTIL_H_
#define TAILGATE_TESTS_FUZZ_JWT_FUZZ_UTIL_H_

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/auth/verifier.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/testing/jwt_testing.h"

namespace tailgate::fuzz {

using tailgate::testing::Base64Url;

inline const absl::Time kNow = absl::FromUnixSeconds(1700000000);
inline const std::string kSecret = "fuzz-secret-fuzz-secret-fuzz-sec";  // 32 bytes

// `signing_input` ("header.payload", both already base64url) signed with kSecret.
inline std::string HmacSign(const std::string& signing_input) {
  return tailgate::testing::AppendHs256Signature(signing_input, kSecret);
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
    c.public_key_pem = tailgate::testing::PublicPem(tailgate::testing::NewRsaKey().get());
    out->rs = *tailgate::JwtVerifier::Create(c);
    c.algorithms = {"ES256"};
    c.public_key_pem = tailgate::testing::PublicPem(tailgate::testing::NewEcKey("P-256").get());
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
  // The default leeway (30 s): accepted means not yet at valid_until, which
  // is what ends the streams the token opens.
  FUZZ_CHECK(g->valid_until == g->expires + absl::Seconds(30));
  FUZZ_CHECK(kNow < g->valid_until);
  FUZZ_CHECK(g->subscribe.size() <= tailgate::kMaxGrantPatterns);
  FUZZ_CHECK(g->publish.size() <= tailgate::kMaxGrantPatterns);
  for (const auto& p : g->subscribe) FUZZ_CHECK(g->MaySubscribe(p));
}

}  // namespace tailgate::fuzz

#endif  // TAILGATE_TESTS_FUZZ_JWT_FUZZ_UTIL_H_

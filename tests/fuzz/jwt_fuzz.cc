// JWT verification (tailgate::JwtVerifier::Verify) on hostile tokens.
//
// Input: a mode byte, then the mode's bytes:
//   '0' raw token bytes, verified by HS256, RS256 and ES256 verifiers;
//   '1' a payload, sent base64url-encoded under a valid HS256 header and a
//       valid signature (reaches the claim checks);
//   '2' a header, with a fixed payload and a valid HS256 signature.
// Arbitrary RS256/ES256 signatures: jwt_signature_fuzz.cc.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/jwt_fuzz_util.h"

using namespace tailgate::fuzz;  // NOLINT: a fuzz target's only code

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Verifiers& v = Get();
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const std::string kHeader = Base64Url(R"({"alg":"HS256","typ":"JWT"})");
  static const std::string kPayload =
      Base64Url(R"({"exp":1700000600,"tailgate":{"subscribe":["orders.>"]}})");
  switch (data[0]) {
    case '0':
      CheckVerify(*v.hs, in);
      CheckVerify(*v.rs, in);
      CheckVerify(*v.es, in);
      break;
    case '1':
      CheckVerify(*v.hs, HmacSign(kHeader + "." + Base64Url(in)));
      break;
    case '2':
      CheckVerify(*v.hs, HmacSign(Base64Url(in) + "." + kPayload));
      break;
    default:
      break;
  }
  return 0;
}

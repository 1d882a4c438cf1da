// Arbitrary signatures under a valid RS256 or ES256 header and payload:
// libjwt's signature decoding (base64url, ECDSA r||s to DER) and OpenSSL's
// verification, reached through tailgate::JwtVerifier::Verify. Slower per
// execution than the other targets: each call sets up an OpenSSL EVP
// verification (many small allocations, each one costly under ASan); the
// keys themselves are parsed once, in JwtVerifier::Create.
//
// Input: a selector byte (even: RS256, odd: ES256), then the raw signature.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/jwt_fuzz_util.h"

using namespace tailgate::fuzz;  // NOLINT: a fuzz target's only code

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Verifiers& v = Get();
  const std::string sig =
      Base64Url(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  static const std::string kPayload =
      Base64Url(R"({"exp":1700000600,"tailgate":{"subscribe":["orders.>"]}})");
  static const std::string kRs = Base64Url(R"({"alg":"RS256"})") + "." + kPayload + ".";
  static const std::string kEs = Base64Url(R"({"alg":"ES256"})") + "." + kPayload + ".";
  if (data[0] % 2 == 0) {
    CheckVerify(*v.rs, kRs + sig);
  } else {
    CheckVerify(*v.es, kEs + sig);
  }
  return 0;
}

// Finding the token in a request: ExtractHttpToken, FindCookie, ParseBearer,
// ExtractGrpcToken, and RedactCredentials (idempotent; leaves no token).
//
// Input: "authorization\ncookie\ntarget".
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/auth/redact.h"
#include "gateway/auth/token_extraction.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using tailgate::fuzz::IsSafeMessage;
using tailgate::fuzz::SV;

void CheckExtractors(std::string_view in) {
  std::vector<std::string_view> parts = tailgate::fuzz::SplitLines(in, 3);
  parts.resize(3);
  const std::string_view authorization = parts[0], cookie = parts[1], target = parts[2];

  absl::StatusOr<std::string> bearer = tailgate::ParseBearer(authorization);
  if (bearer.ok()) {
    FUZZ_CHECK(!bearer->empty());
    FUZZ_CHECK(bearer->find_first_of(" \t\r\n") == std::string::npos);
  } else {
    FUZZ_CHECK(IsSafeMessage(SV(bearer.status().message())));
  }
  std::multimap<std::string, std::string> md;
  md.emplace("authorization", std::string(authorization));
  absl::StatusOr<std::optional<std::string>> grpc_token = tailgate::ExtractGrpcToken(md);
  FUZZ_CHECK(grpc_token.ok() == bearer.ok());

  (void)tailgate::FindCookie(cookie, "tg");
  for (bool allow : {false, true}) {
    tailgate::TokenSources sources;
    sources.cookie_name = "tg";
    sources.allow_query_param = allow;
    auto got = tailgate::ExtractHttpToken(authorization, cookie, target, sources);
    if (!got.ok()) FUZZ_CHECK(IsSafeMessage(SV(got.status().message())));
  }

  // Redaction: idempotent, and what is left carries no token.
  const std::string redacted = tailgate::RedactCredentials(target);
  FUZZ_CHECK(tailgate::RedactCredentials(redacted) == redacted);
  tailgate::TokenSources query_only;
  query_only.allow_query_param = true;
  auto after = tailgate::ExtractHttpToken("", "", redacted, query_only);
  if (after.ok() && after->has_value()) FUZZ_CHECK((*after)->token == "REDACTED");
  auto before = tailgate::ExtractHttpToken("", "", target, query_only);
  if (before.ok()) {
    FUZZ_CHECK(after.ok());
    FUZZ_CHECK(before->has_value() == after->has_value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckExtractors(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

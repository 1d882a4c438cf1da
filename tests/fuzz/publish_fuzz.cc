// Publish validation: ValidateTopic / ValidateType / ValidateData /
// ValidateIdempotencyKey / IsValidUtf8 on arbitrary bytes, with the
// properties the SSE encoder and the log rely on.
//
// Input: arbitrary; each validator also sees the input's '\n'-separated parts
// (topic, type, idempotency key, data), like one PublishRequest.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "store/topic.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using tailgate::fuzz::IsSafeMessage;
using tailgate::fuzz::SV;
namespace store = tailgate::store;

// Independent UTF-8 check: the well-formed byte sequences of Unicode 15,
// table 3-7.
bool RefUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  auto in = [&](size_t k, unsigned lo, unsigned hi) { return k < n && p[k] >= lo && p[k] <= hi; };
  while (i < n) {
    const unsigned c = p[i];
    if (c <= 0x7F) { i += 1; continue; }
    if (c >= 0xC2 && c <= 0xDF && in(i + 1, 0x80, 0xBF)) { i += 2; continue; }
    if (c == 0xE0 && in(i + 1, 0xA0, 0xBF) && in(i + 2, 0x80, 0xBF)) { i += 3; continue; }
    if (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && in(i + 1, 0x80, 0xBF) &&
        in(i + 2, 0x80, 0xBF)) { i += 3; continue; }
    if (c == 0xED && in(i + 1, 0x80, 0x9F) && in(i + 2, 0x80, 0xBF)) { i += 3; continue; }
    if (c == 0xF0 && in(i + 1, 0x90, 0xBF) && in(i + 2, 0x80, 0xBF) && in(i + 3, 0x80, 0xBF)) {
      i += 4; continue;
    }
    if (c >= 0xF1 && c <= 0xF3 && in(i + 1, 0x80, 0xBF) && in(i + 2, 0x80, 0xBF) &&
        in(i + 3, 0x80, 0xBF)) { i += 4; continue; }
    if (c == 0xF4 && in(i + 1, 0x80, 0x8F) && in(i + 2, 0x80, 0xBF) && in(i + 3, 0x80, 0xBF)) {
      i += 4; continue;
    }
    return false;
  }
  return true;
}

bool IsTopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == ':' || c == '-';
}

void CheckAll(std::string_view s) {
  absl::Status topic = store::ValidateTopic(s);
  FUZZ_CHECK(IsSafeMessage(SV(topic.message())));
  if (topic.ok()) {
    FUZZ_CHECK(!s.empty() && s.size() <= store::kMaxTopicBytes);
    for (size_t i = 0; i < s.size(); ++i) {
      FUZZ_CHECK(IsTopicChar(s[i]) || (s[i] == '.' && i > 0 && i + 1 < s.size() && s[i + 1] != '.'));
    }
  }

  absl::Status type = store::ValidateType(s);
  FUZZ_CHECK(IsSafeMessage(SV(type.message())));
  if (type.ok()) {
    // The SSE `event:` field: a CR, LF or NUL here would forge frames.
    FUZZ_CHECK(s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos);
    FUZZ_CHECK(s.size() <= store::kMaxTypeBytes);
    for (char c : s) FUZZ_CHECK(IsTopicChar(c) || c == '.');
  } else {
    FUZZ_CHECK(!s.empty());
  }

  absl::Status key = store::ValidateIdempotencyKey(s);
  FUZZ_CHECK(IsSafeMessage(SV(key.message())));
  if (key.ok()) {
    FUZZ_CHECK(s.size() <= 128);
    for (char c : s) FUZZ_CHECK(c > 0x20 && c < 0x7f);
  }

  const bool utf8 = store::IsValidUtf8(s);
  FUZZ_CHECK(utf8 == RefUtf8(s));
  for (size_t max : {size_t{0}, s.size() / 2, s.size(), store::kDefaultMaxDataBytes}) {
    absl::Status d = store::ValidateData(s, max);
    FUZZ_CHECK(IsSafeMessage(SV(d.message())));
    const bool want = s.size() <= max && s.find('\0') == std::string_view::npos && utf8;
    FUZZ_CHECK(d.ok() == want);
    if (s.size() > max) FUZZ_CHECK(d.code() == absl::StatusCode::kResourceExhausted);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  CheckAll(in);
  for (std::string_view part : tailgate::fuzz::SplitLines(in, 4)) CheckAll(part);
  return 0;
}

// Small helpers shared by the libFuzzer targets in tests/fuzz/.
#ifndef TAILGATE_TESTS_FUZZ_FUZZ_UTIL_H_
#define TAILGATE_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

// A property violation: print and abort, so libFuzzer saves the input.
#define FUZZ_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, \
                   #cond);                                                      \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

namespace tailgate::fuzz {

// Splits the input at '\n' into at most `max_parts` parts (the last keeps the rest).
inline std::vector<std::string_view> SplitLines(std::string_view in, size_t max_parts) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < max_parts) {
    size_t nl = in.find('\n');
    if (nl == std::string_view::npos) break;
    out.push_back(in.substr(0, nl));
    in.remove_prefix(nl + 1);
  }
  out.push_back(in);
  return out;
}

inline std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// True when `s` has only printable ASCII and spaces: what an error message
// may carry into a log line, a gRPC status or an HTTP reason.
inline bool IsSafeMessage(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  return true;
}

}  // namespace tailgate::fuzz

#endif  // TAILGATE_TESTS_FUZZ_FUZZ_UTIL_H_

// std::string_view -> absl::string_view. Debian's Abseil is built for C++14,
// where absl::string_view is its own type, so std::string_view does not
// convert to it implicitly (absl::StrCat, absl::StrSplit, absl::SimpleAtoi
// take absl::string_view). The one place for that conversion.
//
// Thread-safety: a pure function. The result views the argument's bytes.
#ifndef TAILGATE_STORE_ABSL_VIEW_H_
#define TAILGATE_STORE_ABSL_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace tailgate {

inline absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace tailgate

#endif  // TAILGATE_STORE_ABSL_VIEW_H_

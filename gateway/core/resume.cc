#include "gateway/core/resume.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "store/absl_view.h"

namespace tailgate {

namespace {


// At most 64 bytes of `s` for an error message, control and non-ASCII
// bytes shown as '?': a reason stays one printable line.
std::string Shown(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

}  // namespace

std::string_view ResetReasonName(Reset::Reason reason) {
  switch (reason) {
    case Reset::Reason::kTrimmed:
      return "trimmed";
    case Reset::Reason::kUnknownId:
      return "unknown_id";
  }
  return "unknown";
}

std::string ResetJson(const Reset& reset) {
  return absl::StrCat("{\"reason\":\"", AbslView(ResetReasonName(reset.reason)),
                      "\",\"requested\":", reset.requested, ",\"resume\":", reset.resume, "}");
}

std::string LiveJson(uint64_t live_at) { return absl::StrCat("{\"id\":", live_at, "}"); }

absl::StatusOr<uint64_t> ParseEventId(std::string_view text, std::string_view field) {
  absl::string_view s = absl::StripAsciiWhitespace(AbslView(text));
  uint64_t id = 0;
  bool digits = !s.empty();
  for (char c : s) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits || !absl::SimpleAtoi(s, &id)) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(field), ": want a decimal event id (0 to 18446744073709551615), got \"",
                     Shown(std::string_view(s.data(), s.size())), "\""));
  }
  return id;
}

absl::StatusOr<uint64_t> ParseLast(std::string_view text, std::string_view field) {
  uint64_t n = 0;
  bool digits = !text.empty() && text.size() <= 4;
  for (char c : text) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits || !absl::SimpleAtoi(AbslView(text), &n) || n < 1 || n > kMaxLast) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": want an integer from 1 to ",
                                                   kMaxLast, ", got \"", Shown(text), "\""));
  }
  return n;
}

absl::StatusOr<ResumeSpec> ParseSince(std::string_view text, std::string_view field) {
  ResumeSpec spec;
  if (text == "earliest") {
    spec.kind = ResumeSpec::Kind::kEarliest;
    return spec;
  }
  std::string err;
  absl::Time t;
  // absl::ParseTime also takes "infinite-future"/"infinite-past": not RFC 3339.
  if (!absl::ParseTime(absl::RFC3339_full, AbslView(text), &t, &err) || t == absl::InfiniteFuture() ||
      t == absl::InfinitePast()) {
    return absl::InvalidArgumentError(absl::StrCat(
        AbslView(field), ": want \"earliest\" or an RFC 3339 time like 2024-05-01T12:00:00Z, got \"",
        Shown(text), "\""));
  }
  spec.kind = ResumeSpec::Kind::kTime;
  spec.time = t;
  return spec;
}

}  // namespace tailgate

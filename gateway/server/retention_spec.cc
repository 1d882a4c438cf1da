#include "gateway/server/retention_spec.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "store/absl_view.h"
#include "store/topic.h"

namespace tailgate {
namespace {


bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseRetentionAge(std::string_view text) {
  const absl::string_view t = absl::StripAsciiWhitespace(AbslView(text));
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("'", t, "' is not a duration (e.g. 7d, 1d12h, 12h, 30m, 0)"));
  };
  if (t.empty()) return bad();
  if (t == "0") return absl::ZeroDuration();
  absl::Duration d = absl::ZeroDuration();
  absl::string_view rest = t;
  const size_t dpos = t.find('d');
  if (dpos != absl::string_view::npos) {
    int64_t days = 0;
    if (!AllDigits(t.substr(0, dpos)) || !absl::SimpleAtoi(t.substr(0, dpos), &days) ||
        days > 100000) {
      return bad();
    }
    d = absl::Hours(24) * days;
    rest = t.substr(dpos + 1);
  }
  if (!rest.empty()) {
    absl::Duration more;
    if (!absl::ParseDuration(std::string(rest), &more) || more == absl::InfiniteDuration()) {
      return bad();
    }
    d += more;
  }
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("'", t, "' is negative"));
  }
  return d;
}

absl::StatusOr<std::vector<store::RetentionRule>> ParseRetentionRules(std::string_view text) {
  std::vector<store::RetentionRule> rules;
  for (absl::string_view entry : absl::StrSplit(AbslView(text), ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", entry, "': expected PATTERN=LIMIT, e.g. orders.>=7d or metrics.*=1000"));
    }
    store::RetentionRule rule;
    rule.pattern = std::string(absl::StripAsciiWhitespace(entry.substr(0, eq)));
    absl::StatusOr<store::TopicPattern> pattern =
        store::TopicPattern::Parse(rule.pattern, "pattern");
    if (!pattern.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("'", entry, "': ", pattern.status().message()));
    }
    bool has_age = false;
    bool has_events = false;
    const absl::string_view limits = entry.substr(eq + 1);
    if (absl::StripAsciiWhitespace(limits).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("'", entry, "': the limit is missing"));
    }
    for (absl::string_view limit : absl::StrSplit(limits, ':')) {
      limit = absl::StripAsciiWhitespace(limit);
      if (AllDigits(limit) && limit != "0") {
        uint64_t n = 0;
        if (has_events || !absl::SimpleAtoi(limit, &n)) {
          return absl::InvalidArgumentError(
              absl::StrCat("'", entry, "': ", has_events ? "two event counts" : "bad event count"));
        }
        has_events = true;
        rule.max_events = n;
        continue;
      }
      absl::StatusOr<absl::Duration> age = ParseRetentionAge(std::string_view(limit.data(), limit.size()));
      if (!age.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", entry, "': ", age.status().message(), " nor an event count"));
      }
      if (has_age) return absl::InvalidArgumentError(absl::StrCat("'", entry, "': two ages"));
      has_age = true;
      rule.max_age = *age;
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace tailgate

#include "store/internal/retention.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tailgate::store::internal {

absl::StatusOr<RetentionRules> RetentionRules::Parse(const Options& options) {
  RetentionRules out;
  for (size_t i = 0; i < options.retention_rules.size(); ++i) {
    const RetentionRule& rule = options.retention_rules[i];
    absl::StatusOr<TopicPattern> p =
        TopicPattern::Parse(rule.pattern, absl::StrCat("retention_rules[", i, "].pattern"));
    if (!p.ok()) return p.status();
    out.rules_.emplace_back(*std::move(p), rule);
  }
  // Never matched against (it is the fallback), but a malformed one means
  // the options were not built the way the caller thinks.
  if (absl::Status s =
          TopicPattern::Parse(options.default_retention.pattern, "default_retention.pattern")
              .status();
      !s.ok()) {
    return s;
  }
  out.default_ = options.default_retention;
  return out;
}

const RetentionRule& RetentionRules::For(std::string_view topic) const {
  for (const auto& [pattern, rule] : rules_) {
    if (pattern.Matches(topic)) return rule;
  }
  return default_;
}

absl::Duration RetentionRules::ShortestMaxAge() const {
  absl::Duration shortest = absl::InfiniteDuration();
  auto consider = [&](const RetentionRule& r) {
    if (r.max_age > absl::ZeroDuration()) shortest = std::min(shortest, r.max_age);
  };
  consider(default_);
  for (const auto& [pattern, rule] : rules_) consider(rule);
  return shortest;
}

StorageLimits LoosestLimits(const RetentionRules& rules) {
  uint64_t max_events = rules.default_rule().max_events;
  absl::Duration max_age = rules.default_rule().max_age;
  for (const auto& [p, r] : rules.rules()) {
    max_events = (max_events == 0 || r.max_events == 0) ? 0 : std::max(max_events, r.max_events);
    max_age = (max_age == absl::ZeroDuration() || r.max_age == absl::ZeroDuration())
                  ? absl::ZeroDuration()
                  : std::max(max_age, r.max_age);
  }
  return StorageLimits{max_events, max_age};
}

RetentionPlanner::RetentionPlanner(RetentionRules rules, Clock clock, StorageLimits enforced)
    : rules_(std::move(rules)), clock_(std::move(clock)), enforced_(enforced) {}

TopicCut RetentionPlanner::Plan(std::string_view topic, uint64_t count, absl::Time now) const {
  const RetentionRule& rule = rules_.For(topic);
  TopicCut cut;
  if (rule.max_events > 0 && count > rule.max_events &&
      (enforced_.max_events == 0 || rule.max_events < enforced_.max_events)) {
    cut.over = count - rule.max_events;
  }
  if (rule.max_age > absl::ZeroDuration() &&
      (enforced_.max_age == absl::ZeroDuration() || rule.max_age < enforced_.max_age)) {
    cut.older_than = now - rule.max_age;
  }
  return cut;
}

}  // namespace tailgate::store::internal

// Parsing of the retention flags (main.cc): durations with a day unit and
// per-pattern rules such as "orders.>=7d,metrics.*=1000,audit.>=30d:5000000".
//
// Thread-safety: pure functions.
#ifndef TAILGATE_GATEWAY_SERVER_RETENTION_SPEC_H_
#define TAILGATE_GATEWAY_SERVER_RETENTION_SPEC_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/log.h"

namespace tailgate {

// A non-negative duration: "7d", "1d12h", "12h", "30m", "90s", "0". Days are
// 24 hours; the rest uses absl::ParseDuration units (h, m, s, ms, us, ns).
absl::StatusOr<absl::Duration> ParseRetentionAge(std::string_view text);

// "PATTERN=LIMIT[:LIMIT],..." where PATTERN is a subscription pattern and each
// LIMIT is an age (a duration, see above) or an event count (a plain
// integer); at most one of each kind. The first matching rule wins, in the
// order given. Empty text gives no rules. Errors name the entry.
absl::StatusOr<std::vector<store::RetentionRule>> ParseRetentionRules(std::string_view text);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SERVER_RETENTION_SPEC_H_

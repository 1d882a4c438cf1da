// What a verified token allows, and the one rule for topic authorization:
// pattern containment (PatternsCover) for subscriptions, pattern matching
// for publishing. The verifier (verifier.h) makes Grants; every transport
// (SSE, gRPC Subscribe/Publish*, POST /v1/publish) and the revocation list
// ask these functions, so a grant means the same everywhere.
//
//   if (absl::Status s = AuthorizeSubscribe(grants, patterns); !s.ok()) -> 403
//
// Pure functions over values; thread-safe.
#ifndef TAILGATE_GATEWAY_AUTH_GRANTS_H_
#define TAILGATE_GATEWAY_AUTH_GRANTS_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "store/topic.h"

namespace tailgate {

// Most patterns per grant list in one token.
inline constexpr size_t kMaxGrantPatterns = 256;

// What a verified token allows. A value type; thread-compatible.
struct Grants {
  std::vector<store::TopicPattern> subscribe;
  std::vector<store::TopicPattern> publish;
  // `admin: true` in the claim object: may call tailgate.v1.Admin.
  bool admin = false;
  std::string subject;  // `sub`, empty when absent
  absl::Time expires = absl::InfinitePast();  // `exp`
  // `exp` plus the verifier's leeway: the first instant Verify refuses the
  // token. Whatever the token opened (an SSE stream, a Subscribe call) ends
  // here, so a stream never outlives the token that authorized it.
  absl::Time valid_until = absl::InfinitePast();

  // True when every topic `requested` can match is matched by some pattern
  // in `subscribe` (see PatternsCover).
  bool MaySubscribe(const store::TopicPattern& requested) const;
  // True when some pattern in `publish` matches the topic.
  bool MayPublish(std::string_view topic) const;
};

// How long a stream opened with a token valid until `valid_until` may run
// from `now`: clamped to [0, a century], so a steady-clock deadline derived
// from it stays in the clock's range for any `exp` a token carries.
absl::Duration TokenTimeLeft(absl::Time valid_until, absl::Time now);

// Pattern containment: true when every topic matched by `requested` is
// matched by at least one pattern in `granted` (the union counts: grants
// {"a.*", "a.*.>"} together cover "a.>"). Exact over the topic grammar, with
// one deliberate conservatism: it ignores the 255-byte topic limit, so it
// never allows more, and refuses only contrived patterns already near the limit.
bool PatternsCover(const std::vector<store::TopicPattern>& granted,
                   const store::TopicPattern& requested);

// PERMISSION_DENIED naming the first pattern the grants do not cover, e.g.
// `token does not allow subscribing to "users.1"`.
absl::Status AuthorizeSubscribe(const Grants& grants,
                                const std::vector<store::TopicPattern>& requested);
// PERMISSION_DENIED naming the topic when the grants do not allow publishing to it.
absl::Status AuthorizePublish(const Grants& grants, std::string_view topic);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_AUTH_GRANTS_H_

// The NATS JetStream implementation of Log: the rules of its settings that
// the gateway's flags share, and the hooks store's tests use. The rest of
// tailgate opens it with OpenJetStreamLog from store/log.h and never sees
// NATS types.
#ifndef TAILGATE_STORE_JETSTREAM_LOG_H_
#define TAILGATE_STORE_JETSTREAM_LOG_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "store/log.h"

namespace tailgate::store {

// The one mapping from a NATS client status (and JetStream error code, 0
// when none) to absl::Status. `what` prefixes the message.
absl::Status FromNats(int nats_status, int js_error_code, std::string_view what);

// The Nats-Msg-Id that carries (topic, idempotency key): keys are scoped to
// their topic, and the encoding is unambiguous because '|' is not a topic
// character.
std::string JetStreamMsgId(std::string_view topic, std::string_view key);

// The one rule for a JetStream stream name (JetStreamOptions::stream, the
// --nats_stream flag): non-empty, without whitespace or control characters,
// '.', '*', '>', '/' or '\' (NATS's own rule). Otherwise INVALID_ARGUMENT
// "<field> must be a non-empty name without spaces, '.', '*', '>', '/' or
// '\', got '<name>'". OpenJetStreamLog checks it with field "stream".
absl::Status ValidateJetStreamStreamName(std::string_view name, std::string_view field);

// Hooks that tests use to control time and observe the log; production
// passes defaults.
struct JetStreamLogHooks {
  // The reference for retention's age limits (JetStream's own stream limits
  // run on the server's clock).
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // Called once the read cache's load at open is over (on its thread, or in
  // Open when there is none): the cache covers (from, through] below the
  // tail's part; `loaded` events were loaded (0 when there was nothing to
  // load, the stream failed or the log closed first).
  std::function<void(uint64_t from, uint64_t through, size_t loaded)> cache_filled;
};

absl::StatusOr<std::unique_ptr<Log>> OpenJetStreamLogWithHooks(const Options& options,
                                                               const JetStreamOptions& js,
                                                               JetStreamLogHooks hooks);

}  // namespace tailgate::store

#endif  // TAILGATE_STORE_JETSTREAM_LOG_H_

// The NATS JetStream implementation of Log. Internal to store/: the rest of
// tailgate uses OpenJetStreamLog from store/log.h and never sees NATS types.
#ifndef TAILGATE_STORE_JETSTREAM_LOG_H_
#define TAILGATE_STORE_JETSTREAM_LOG_H_

#include <string>

#include "absl/status/status.h"
#include "store/log.h"

namespace tailgate::store {

// The one mapping from a NATS client status (and JetStream error code, 0
// when none) to absl::Status. `what` prefixes the message.
absl::Status FromNats(int nats_status, int js_error_code, std::string_view what);

// The Nats-Msg-Id that carries (topic, idempotency key): keys are scoped to
// their topic, and the encoding is unambiguous because '|' is not a topic
// character.
std::string JetStreamMsgId(std::string_view topic, std::string_view key);

}  // namespace tailgate::store

#endif  // TAILGATE_STORE_JETSTREAM_LOG_H_

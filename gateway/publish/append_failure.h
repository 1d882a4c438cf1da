// How every publish transport reports an append the log failed.
//
// Thread-safety: thread-safe.
#ifndef TAILGATE_GATEWAY_PUBLISH_APPEND_FAILURE_H_
#define TAILGATE_GATEWAY_PUBLISH_APPEND_FAILURE_H_

#include <string_view>

#include "absl/status/status.h"

namespace tailgate {

// Logs a failed append when the server is at fault (INTERNAL, DATA_LOSS,
// UNKNOWN); a caller's mistake is the caller's to see, in its response.
// While the store is down every request fails alike, so at most one line per
// 10 s is written over all transports, with the count of lines held back.
// `where` names the transport ("publish", "POST /v1/publish").
void LogAppendFailure(std::string_view where, const absl::Status& status);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_PUBLISH_APPEND_FAILURE_H_

// The rules that tie one Config field to another (TLS files in pairs, the
// data dir of the RocksDB store, what needs auth on). Every way a Config is
// made goes through them: ConfigFromFlags (config.h) for the binary, and
// Gateway::Start for tests and embedders that fill the struct themselves.
// Rules on a single flag's range stay with the flag, in config.cc.
//
// Thread-safety: pure.
#ifndef TAILGATE_GATEWAY_SERVER_CONFIG_CHECK_H_
#define TAILGATE_GATEWAY_SERVER_CONFIG_CHECK_H_

#include "absl/status/status.h"
#include "gateway/config.h"

namespace tailgate {

// OK, or INVALID_ARGUMENT whose message names the flags involved (the binary
// prints it after "tailgate: " and exits 2). The first broken rule wins.
absl::Status CheckConfig(const Config& config);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SERVER_CONFIG_CHECK_H_

// The tailgate binary's flags, as one checked Config: the only code that
// reads a flag, and with config_check.h the only code that decides whether
// a value is allowed. The struct is gateway/config.h, which every library
// reads its part of; this file only makes it.
//
// Thread-safety: ConfigFromFlags reads the absl flags; call it after
// absl::ParseCommandLine, from the thread that parsed them.
#ifndef TAILGATE_GATEWAY_SERVER_CONFIG_H_
#define TAILGATE_GATEWAY_SERVER_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/config.h"
#include "gateway/diag/logging.h"

namespace tailgate {

// Everything the binary's flags decide.
struct ServerConfig {
  LogOptions log;  // --log_level, --log_format, --log_json
  Config gateway;  // everything else
  // --retention as given, for the start-up line.
  std::string retention_text;
};

// The flags' values, range-checked one by one and then by CheckConfig. On a
// bad value: INVALID_ARGUMENT with the one-line message main prints after
// "tailgate: " (and exits 2), naming the flag; files named by flags (JWT
// keys) are read here, so a missing one fails the same way.
absl::StatusOr<ServerConfig> ConfigFromFlags();

// True for the source file that defines the binary's flags: --help lists
// those (absl's default looks for a file named after the binary).
bool IsServerFlagsFile(absl::string_view file);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SERVER_CONFIG_H_

// Checks the command line (and the --flagfile files it names) before
// absl::ParseCommandLine, so that an unknown flag or a value the flag's type
// cannot parse ("--heartbeat=soon", "--max_connections=lots") fails with a
// message naming the flag, and main exits 2 like every other invalid value
// (absl itself would exit 1). Range and consistency checks are
// ConfigFromFlags's (config.h).
//
// Apart from config.h because it has to run earlier: it works on argv
// before absl::ParseCommandLine has assigned (or refused, exiting 1) any
// value, while ConfigFromFlags reads the values absl has parsed.
//
// Flags absl handles itself (--help*, --version, --flagfile, --fromenv,
// --tryfromenv, --undefok, --only_check_args) are left alone.
#ifndef TAILGATE_GATEWAY_SERVER_FLAG_PRECHECK_H_
#define TAILGATE_GATEWAY_SERVER_FLAG_PRECHECK_H_

#include "absl/status/status.h"

namespace tailgate {

// INVALID_ARGUMENT with a one-line reason for the first bad flag. Does not
// change any flag's value.
absl::Status PrecheckFlags(int argc, char** argv);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SERVER_FLAG_PRECHECK_H_

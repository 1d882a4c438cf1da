// `bazel run` starts a binary inside its runfiles tree, so a relative path the
// user typed (--data_dir, --flagfile, TLS files, checkpoint dirs) would land
// there (and vanish with `bazel clean`). Bazel names the directory the user
// ran it from in BUILD_WORKING_DIRECTORY; the binaries move there first thing
// in main, before parsing flags, so every relative path means what the user
// meant, in one place. Outside `bazel run` the variable is unset: no-op.
#ifndef TAILGATE_GATEWAY_SERVER_WORKING_DIR_H_
#define TAILGATE_GATEWAY_SERVER_WORKING_DIR_H_

#include <string>

namespace tailgate {

// chdir(2) to $BUILD_WORKING_DIRECTORY when it is set and non-empty. Returns
// "" on success (or when unset), else a message naming the directory and errno.
std::string EnterBuildWorkingDirectory();

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SERVER_WORKING_DIR_H_

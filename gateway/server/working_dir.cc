#include "gateway/server/working_dir.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tailgate {

std::string EnterBuildWorkingDirectory() {
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (dir == nullptr || *dir == '\0') return "";
  if (::chdir(dir) != 0) {
    return std::string("BUILD_WORKING_DIRECTORY=") + dir + ": " + std::strerror(errno);
  }
  return "";
}

}  // namespace tailgate

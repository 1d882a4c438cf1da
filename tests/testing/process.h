// Test support: runs a program as a child process and watches its stderr.
//
// Not thread-safe: one test thread drives a Process.
#ifndef TAILGATE_TESTS_TESTING_PROCESS_H_
#define TAILGATE_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace tailgate::testing {

class Process {
 public:
  // Starts `argv[0]` with the given arguments; stderr is captured, stdout
  // inherited. Aborts the test binary if fork/exec fails.
  explicit Process(std::vector<std::string> argv);
  ~Process();  // SIGKILLs the child if it still runs.

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Reads stderr lines until one contains `needle`; returns that line, or
  // nullopt at EOF or after `timeout`. Lines read are kept in output().
  std::optional<std::string> WaitForLine(const std::string& needle,
                                         absl::Duration timeout = absl::Seconds(30));

  // Sends `sig` and waits for the exit; returns the wait status (see
  // WIFEXITED), or -1 on timeout.
  int Signal(int sig, absl::Duration timeout = absl::Seconds(30));
  // Waits for the child to exit by itself.
  int Wait(absl::Duration timeout = absl::Seconds(30));

  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  std::string output_;
  size_t scanned_ = 0;  // output_ before this offset has been returned already.
  bool exited_ = false;
};

// The value after `key` up to the next space in `line`, e.g.
// ValueAfter("tailgate ready http=127.0.0.1:5 grpc=...", "http=") == "127.0.0.1:5".
std::string ValueAfter(const std::string& line, const std::string& key);

// Runs `command` with /bin/sh; returns (exit status, stdout + stderr), -1 as
// the status when it did not exit normally.
std::pair<int, std::string> Shell(const std::string& command);

// A fresh, empty directory under TEST_TMPDIR.
std::string MakeTempDir(const std::string& prefix);

// A size field of /proc/PID/status ("VmRSS", "VmHWM") in bytes; -1 when the
// process or the field is not there.
int64_t ProcStatusBytes(pid_t pid, const std::string& field);

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_TESTING_PROCESS_H_

#include "tests/testing/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tailgate::testing {

Process::Process(std::vector<std::string> argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("pipe2");
    std::abort();
  }
  pid_ = ::fork();
  if (pid_ < 0) {
    std::perror("fork");
    std::abort();
  }
  if (pid_ == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  stderr_fd_ = fds[0];
}

Process::~Process() {
  if (!exited_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
  if (stderr_fd_ >= 0) ::close(stderr_fd_);
}

std::optional<std::string> Process::WaitForLine(const std::string& needle,
                                                absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    // Look at complete lines not yet scanned.
    size_t nl;
    while ((nl = output_.find('\n', scanned_)) != std::string::npos) {
      std::string line = output_.substr(scanned_, nl - scanned_);
      scanned_ = nl + 1;
      if (line.find(needle) != std::string::npos) return line;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration() || stderr_fd_ < 0) return std::nullopt;
    pollfd p{stderr_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(stderr_fd_, buf, sizeof buf);
    if (n <= 0) {
      ::close(stderr_fd_);
      stderr_fd_ = -1;
      continue;
    }
    output_.append(buf, static_cast<size_t>(n));
  }
}

int Process::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    // Drain stderr so the child never blocks on a full pipe.
    if (stderr_fd_ >= 0) {
      pollfd p{stderr_fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        char buf[4096];
        ssize_t n = ::read(stderr_fd_, buf, sizeof buf);
        if (n > 0) {
          output_.append(buf, static_cast<size_t>(n));
        } else {
          ::close(stderr_fd_);
          stderr_fd_ = -1;
        }
      }
    }
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      return status;
    }
    if (absl::Now() > deadline) return -1;
    if (stderr_fd_ < 0) ::usleep(1000);  // pipe closed: nothing left to wait on but the exit
  }
}

int Process::Signal(int sig, absl::Duration timeout) {
  ::kill(pid_, sig);
  return Wait(timeout);
}

std::string ValueAfter(const std::string& line, const std::string& key) {
  size_t at = line.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  return line.substr(at, line.find(' ', at) - at);
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  return tmpl;
}

std::pair<int, std::string> Shell(const std::string& command) {
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  if (f == nullptr) return {-1, ""};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

int64_t ProcStatusBytes(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::string kb = line.substr(field.size() + 1);  // "   1234 kB"
    kb.erase(0, kb.find_first_not_of(" \t"));
    kb = kb.substr(0, kb.find(' '));
    int64_t v = 0;
    if (absl::SimpleAtoi(kb, &v)) return v * 1024;
  }
  return -1;
}

}  // namespace tailgate::testing

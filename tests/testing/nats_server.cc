#include "tests/testing/nats_server.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace tailgate::testing {
namespace {

std::string FindNatsServer() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(std::string(path ? path : "") + ":/usr/sbin:/usr/bin:/usr/local/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/nats-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  std::fprintf(stderr, "nats-server not found: run bazel/setup\n");
  std::abort();
}

}  // namespace

NatsServer::NatsServer() {
  store_dir_ = MakeTempDir("nats-store-");
  config_ = store_dir_ + "/nats.conf";
  // Room for tailgate's 1 MiB events plus headers (the default is 1 MB).
  std::ofstream(config_) << "max_payload: 2097152\n";
  Launch(-1);
}

NatsServer::~NatsServer() = default;

std::string NatsServer::url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

void NatsServer::Launch(int port) {
  process_ = std::make_unique<Process>(std::vector<std::string>{
      FindNatsServer(), "-c", config_, "-js", "-a", "127.0.0.1", "-p", std::to_string(port),
      "-sd", store_dir_});
  std::optional<std::string> line =
      process_->WaitForLine("Listening for client connections on");
  if (!line) {
    std::fprintf(stderr, "nats-server did not start:\n%s\n", process_->output().c_str());
    std::abort();
  }
  const size_t colon = line->rfind(':');
  port_ = std::atoi(line->c_str() + colon + 1);
  if (!process_->WaitForLine("Server is ready")) {
    std::fprintf(stderr, "nats-server not ready:\n%s\n", process_->output().c_str());
    std::abort();
  }
}

void NatsServer::Kill() {
  if (process_ != nullptr) process_->Signal(SIGKILL);
  process_.reset();
}

void NatsServer::Restart() {
  Kill();
  Launch(port_);
}

}  // namespace tailgate::testing

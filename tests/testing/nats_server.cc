#include "tests/testing/nats_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/http_client.h"

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

// A loopback TCP port the kernel considers free right now. Route ports must
// be known before any node starts (every node lists every other one), so
// they cannot come from -1 like client ports; the port is released again at
// once, and the kernel does not hand a just-released port to the next bind(0).
int PickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("picking a free port");
    std::abort();
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Every test server's settings. Room for tailgate's 1 MiB events plus headers
// (the default max_payload is 1 MB). JetStream reserves each stream's
// max_bytes up front against max_file_store, whose default is 75% of the free
// disk: on a machine with a few GB free, a test binary's streams (64 MiB each,
// far more reserved than written) ran out of it ("insufficient storage
// resources") halfway through. A fixed limit makes the tests independent of
// the disk they run on.
constexpr char kCommonConfig[] =
    "max_payload: 2097152\n"
    "jetstream {\n"
    "  max_file_store: 1TB\n"
    "}\n";

}  // namespace

NatsServer::NatsServer() {
  store_dir_ = MakeTempDir("nats-store-");
  config_ = store_dir_ + "/nats.conf";
  std::ofstream(config_) << kCommonConfig;
  Launch(-1);
}

NatsServer::NatsServer(ClusterNode, std::string name, std::string store_dir, std::string config)
    : name_(std::move(name)), store_dir_(std::move(store_dir)), config_(std::move(config)) {}

NatsServer::~NatsServer() = default;

std::string NatsServer::url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

void NatsServer::Launch(int port) {
  std::vector<std::string> argv = {FindNatsServer(), "-c", config_, "-js", "-a", "127.0.0.1",
                                   "-p", std::to_string(port), "-sd", store_dir_};
  // Cluster nodes also serve monitoring (tests read /jsz to find a stream's
  // leader); -1 lets the server pick the port.
  if (!name_.empty()) argv.insert(argv.end(), {"-m", "-1"});
  process_ = std::make_unique<Process>(argv);
  if (!name_.empty()) {
    std::optional<std::string> monitor = process_->WaitForLine("Starting http monitor on");
    if (!monitor) {
      std::fprintf(stderr, "nats-server %s did not start:\n%s\n", name_.c_str(),
                   process_->output().c_str());
      std::abort();
    }
    monitor_port_ = std::atoi(monitor->c_str() + monitor->rfind(':') + 1);
  }
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

std::string NatsServer::JszLeader(const std::string& path, const std::string& after,
                                  std::string* body) const {
  absl::StatusOr<HttpResult> res = HttpFetch("127.0.0.1", monitor_port_, "GET", path);
  std::string page = res.ok() ? res->body : std::string(res.status().message());
  std::string leader;
  if (res.ok() && res->status == 200) {
    const std::string key = "\"leader\": \"";
    size_t at = page.find(after);
    if (at != std::string::npos) at = page.find(key, at);
    if (at != std::string::npos) {
      at += key.size();
      leader = page.substr(at, page.find('"', at) - at);
    }
  }
  if (body != nullptr) *body = std::move(page);
  return leader;
}

NatsCluster::NatsCluster(int nodes) {
  std::vector<int> route_ports;
  for (int i = 0; i < nodes; ++i) route_ports.push_back(PickFreePort());
  std::string routes;
  for (int p : route_ports) {
    if (!routes.empty()) routes += ", ";
    routes += "nats-route://127.0.0.1:" + std::to_string(p);
  }
  const std::string cluster_name = "tgtest";
  for (int i = 0; i < nodes; ++i) {
    const std::string name = "n" + std::to_string(i + 1);
    const std::string dir = MakeTempDir("nats-" + name + "-");
    const std::string config = dir + "/nats.conf";
    // Every node lists every route (its own included; the server skips it):
    // JetStream sizes its metadata group from the configured routes.
    std::ofstream(config) << "server_name: " << name << "\n"
                          << kCommonConfig
                          << "cluster {\n"
                          << "  name: " << cluster_name << "\n"
                          << "  listen: 127.0.0.1:" << route_ports[static_cast<size_t>(i)] << "\n"
                          << "  routes: [" << routes << "]\n"
                          << "}\n";
    nodes_.push_back(std::unique_ptr<NatsServer>(
        new NatsServer(NatsServer::ClusterNode{}, name, dir, config)));
    nodes_.back()->Launch(-1);
  }
  // "Server is ready" comes before the JetStream cluster has formed; streams
  // can be created once every node knows the metadata leader. Asked of each
  // node's /jsz, not read from its log: a node whose routes come up after
  // the election joins without ever logging the leader (seen with 2.9.10:
  // "Waiting for routing to be established..." and no leader line, while
  // its /jsz names the leader).
  for (auto& n : nodes_) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    std::string last;
    while (n->JszLeader("/jsz", "\"meta_cluster\"", &last).empty()) {
      if (absl::Now() > deadline) {
        std::fprintf(stderr, "nats-server %s: no JetStream metadata leader (/jsz: %s):\n%s\n",
                     n->name().c_str(), last.c_str(), n->process_->output().c_str());
        std::abort();
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
}

NatsCluster::~NatsCluster() = default;

std::string NatsCluster::urls() const {
  std::string out;
  for (const auto& n : nodes_) {
    if (!out.empty()) out += ",";
    out += n->url();
  }
  return out;
}

}  // namespace tailgate::testing

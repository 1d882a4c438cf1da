// Test support: a real nats-server with JetStream on loopback, alone or as a
// node of a JetStream cluster (NatsCluster).
//
// The server picks its own free port (-p -1) and keeps its store under
// TEST_TMPDIR; Kill and Restart simulate a crash and recovery on the same
// port and store. Not thread-safe: one test thread drives it.
#ifndef TAILGATE_TESTS_TESTING_NATS_SERVER_H_
#define TAILGATE_TESTS_TESTING_NATS_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "tests/testing/process.h"

namespace tailgate::testing {

class NatsServer {
 public:
  // Starts `nats-server -js` on 127.0.0.1; aborts the test binary when the
  // binary is missing or never becomes ready (install with bazel/setup).
  NatsServer();
  ~NatsServer();  // SIGKILLs the server if it runs

  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // "nats://127.0.0.1:<port>".
  std::string url() const;
  int port() const { return port_; }

  // The server_name ("n1", ...) of a cluster node; empty when standalone.
  const std::string& name() const { return name_; }
  // The HTTP monitoring port (/jsz, /connz, ...) of a cluster node; 0 when
  // standalone.
  int monitor_port() const { return monitor_port_; }
  bool running() const { return process_ != nullptr; }

  // The "leader" that follows `after` in this cluster node's monitoring page
  // `path` (e.g. "/jsz", after "\"meta_cluster\""); empty while it names
  // none. `body`, if given, gets the page (or the fetch error) for messages.
  std::string JszLeader(const std::string& path, const std::string& after,
                        std::string* body = nullptr) const;

  // SIGKILL: no clean shutdown, like a crash.
  void Kill();
  // Starts it again on the same port and store dir; waits until ready.
  void Restart();

 private:
  friend class NatsCluster;
  struct ClusterNode {};
  // A cluster node whose config (server_name, cluster block) NatsCluster
  // wrote to `config` in `store_dir`; Launch starts it.
  NatsServer(ClusterNode, std::string name, std::string store_dir, std::string config);
  void Launch(int port);

  std::string name_;
  std::string store_dir_;
  std::string config_;
  int port_ = -1;
  int monitor_port_ = 0;
  std::unique_ptr<Process> process_;
};

// A JetStream cluster of `nodes` nats-servers on loopback, fully meshed by
// explicit routes, each with its own client, route and monitoring ports and
// store dir. The constructor returns once every node has started and agrees
// on a metadata leader, so streams with replicas up to `nodes` can be created
// at once. Kill/Restart nodes individually through node(i).
class NatsCluster {
 public:
  explicit NatsCluster(int nodes = 3);
  ~NatsCluster();

  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  NatsServer& node(int i) { return *nodes_.at(static_cast<size_t>(i)); }
  // Every node's client URL, comma-separated (what --nats_url takes).
  std::string urls() const;

 private:
  std::vector<std::unique_ptr<NatsServer>> nodes_;
};

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_TESTING_NATS_SERVER_H_

// Test support: a real nats-server with JetStream on loopback.
//
// The server picks its own free port (-p -1) and keeps its store under
// TEST_TMPDIR; Kill and Restart simulate a crash and recovery on the same
// port and store. Not thread-safe: one test thread drives it.
#ifndef TAILGATE_TESTS_TESTING_NATS_SERVER_H_
#define TAILGATE_TESTS_TESTING_NATS_SERVER_H_

#include <memory>
#include <string>

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

  // SIGKILL: no clean shutdown, like a crash.
  void Kill();
  // Starts it again on the same port and store dir; waits until ready.
  void Restart();

 private:
  void Launch(int port);

  std::string store_dir_;
  std::string config_;
  int port_ = -1;
  std::unique_ptr<Process> process_;
};

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_TESTING_NATS_SERVER_H_

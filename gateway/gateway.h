// Wires the pieces of one tailgate process: the log, the gRPC server and the
// HTTP server. main.cc builds a Config and calls Start; tests do the same
// in-process.
//
// Thread-safety: Start and Shutdown are called from one controlling thread.
#ifndef TAILGATE_GATEWAY_GATEWAY_H_
#define TAILGATE_GATEWAY_GATEWAY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/config.h"

namespace grpc {
class Server;
class HealthCheckServiceInterface;
}  // namespace grpc

namespace tailgate {

class HttpServer;

class Gateway {
 public:
  // Opens the data dir, binds both listeners and starts serving.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(const Config& config);
  ~Gateway();

  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Bound addresses (the real port when the flag said 0).
  std::string http_address() const;
  std::string grpc_address() const;
  uint16_t http_port() const;
  uint16_t grpc_port() const { return grpc_port_; }

  // Graceful stop: health turns NOT_SERVING, listeners stop accepting, work
  // in flight finishes (bounded by config.drain_timeout), then everything
  // closes. Idempotent.
  void Shutdown();

 private:
  explicit Gateway(const Config& config);
  absl::Status OpenDataDir();
  absl::Status StartGrpc();
  absl::Status StartHttp();

  Config config_;
  int data_dir_lock_fd_ = -1;
  std::unique_ptr<grpc::Server> grpc_server_;
  uint16_t grpc_port_ = 0;
  std::string grpc_host_;
  std::unique_ptr<HttpServer> http_server_;
  bool shut_down_ = false;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_GATEWAY_H_

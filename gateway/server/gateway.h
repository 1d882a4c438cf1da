// Wires the pieces of one tailgate process: the log, the gRPC server and the
// HTTP server. main.cc builds a Config and calls Start; tests do the same
// in-process.
//
// Thread-safety: Start and Shutdown are called from one controlling thread.
#ifndef TAILGATE_GATEWAY_SERVER_GATEWAY_H_
#define TAILGATE_GATEWAY_SERVER_GATEWAY_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/config.h"
#include "store/log.h"

namespace grpc {
class Server;
class HealthCheckServiceInterface;
}  // namespace grpc

namespace tailgate {

class AdminService;
class GrpcMetricsInterceptorFactory;
class HttpPublishService;
class JwksProvider;
class HttpServer;
class JwtVerifier;
class Hub;
class MetricsRegistry;
struct GatewayMetrics;
class StoreMonitor;
class PublisherService;
class RevocationList;
class SseService;
class StreamRegistry;
class SubscriberService;

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

  // The event log; open from Start until Shutdown returns, owned by the
  // Gateway (nullptr after Shutdown).
  store::Log* log() const { return log_.get(); }
  // The fan-out hub behind SSE and Subscribe (nullptr after Shutdown).
  Hub* hub() const { return hub_.get(); }
  // Open HTTP connections (SSE streams included).
  int http_connections() const;
  // Open PublishStream calls.
  size_t publish_streams() const;
  // Open subscription streams, every transport (owned by the Gateway; valid
  // until it is destroyed).
  StreamRegistry* streams() const { return streams_.get(); }

  // The metrics behind GET /metrics (owned by the Gateway; valid until it is
  // destroyed).
  MetricsRegistry* metrics() const { return metrics_.get(); }
  // OK when ready to serve (GET /readyz, gRPC health): the log is open and
  // can append (store::Log::Health: storage reachable, disk not full), its last commit did not fail, and the gateway is not draining; otherwise
  // UNAVAILABLE with the reason. Cheap and thread-safe.
  absl::Status Readiness() const;

  // Graceful stop: publishes are refused with UNAVAILABLE, health turns
  // NOT_SERVING, listeners stop accepting, work in flight (acks included)
  // finishes (bounded by config.drain_timeout), then everything closes, the
  // log last. Idempotent.
  void Shutdown();

 private:
  explicit Gateway(const Config& config);
  absl::Status OpenLog();
  // Revocations and the stream registry (gateway_presence.cc); after
  // OpenLog, before the servers.
  absl::Status OpenPresence();
  absl::Status StartGrpc();
  absl::Status StartHttp();
  void RegisterMetrics();
  // Sets the gRPC health status from Readiness() when it changed.
  void UpdateHealth();

  Config config_;
  // First: destroyed last, after everything that holds metric pointers.
  std::unique_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<GatewayMetrics> gateway_metrics_;
  std::atomic<bool> draining_{false};
  // When the last failed commit happened (Unix ns), until a good commit
  // clears it; 0: none. Readiness counts it for kCommitFailureHold only.
  std::atomic<int64_t> commit_failed_at_{0};
  mutable std::mutex commit_error_mu_;
  std::string commit_error_;  // Guarded by commit_error_mu_.
  std::mutex health_mu_;      // Serializes UpdateHealth.
  int health_serving_ = -1;   // Guarded by health_mu_: last status set (-1: none).
  // Before the services that point to it (destroyed after them). Null when
  // auth is off.
  std::unique_ptr<JwtVerifier> verifier_;
  // Replaces the verifier's JWKS keys from its thread; destroyed before it.
  std::unique_ptr<JwksProvider> jwks_;
  // Before everything that checks or registers with them.
  std::unique_ptr<RevocationList> revocations_;
  std::unique_ptr<StreamRegistry> streams_;
  std::unique_ptr<StoreMonitor> monitor_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<store::Log> log_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<SseService> sse_;
  std::unique_ptr<SubscriberService> subscriber_;
  std::unique_ptr<PublisherService> publisher_;
  std::unique_ptr<grpc::Server> grpc_server_;
  uint16_t grpc_port_ = 0;
  std::string grpc_host_;
  std::unique_ptr<HttpServer> http_server_;
  // After http_server_: destroyed before it, once Stop() has waited for
  // every pending response.
  std::unique_ptr<HttpPublishService> http_publish_;
  bool shut_down_ = false;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SERVER_GATEWAY_H_

// The gateway's metric families, registered once at start-up: each component
// gets a struct of metric pointers, so a hot-path update is one relaxed atomic
// add with no lookup and no lock (see gateway/diag/metrics.h).
//
// Names follow Prometheus conventions: prefix tailgate_, counters end in
// _total, units in the name (_seconds, _bytes). The README's "Operations"
// section lists every family.
//
// Thread-safety: every method may be called from any thread. Ownership: the
// MetricsRegistry passed to a constructor must outlive the struct.
#ifndef TAILGATE_GATEWAY_DIAG_OPS_METRICS_H_
#define TAILGATE_GATEWAY_DIAG_OPS_METRICS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

#include "absl/time/time.h"
#include "gateway/diag/metrics.h"
#include "store/log.h"

namespace tailgate {

// tailgate_publish_total{result}: one per published event (a Publish, one
// element of a PublishBatch, one PublishStream request, one event of a POST
// /v1/publish), by outcome. With `family` = "tailgate_http_publish_total":
// the POST /v1/publish share of it, by the same outcomes.
class PublishMetrics {
 public:
  explicit PublishMetrics(MetricsRegistry* registry,
                          const std::string& family = "tailgate_publish_total");

  // `n` events ended with this status code (absl::StatusCode and
  // grpc::StatusCode share their numbering). OK counts as "ok".
  void CountCode(int code, uint64_t n = 1);
  // Appended events: "ok", or "duplicate" for an idempotent repeat.
  void CountAppended(const std::vector<store::AppendResult>& results);

 private:
  Counter* ok_;
  Counter* duplicate_;
  Counter* other_;
  std::array<Counter*, 17> by_code_{};  // Indexed by status code; [0] unused.
};

// The SSE endpoint (gateway/sse/service.cc).
struct SseMetrics {
  explicit SseMetrics(MetricsRegistry* registry);

  enum class CloseReason {
    kClientClosed,  // The client closed or reset the connection.
    kWriteError,    // A write failed.
    kWriteTimeout,  // A write did not complete within --write_timeout.
    kDraining,      // The server drained (SIGTERM).
    kServerError,   // The store failed, or the start could not be resolved.
    kTokenExpired,  // The token that authorized the stream expired.
    kRevoked,       // An admin revoked its subject or pattern (Admin/Revoke).
    kCount,
  };
  void CountClosed(CloseReason reason) { closed[static_cast<size_t>(reason)]->Increment(); }

  Gauge* connections;          // Streams open now.
  Counter* opened;             // Streams started (200 sent).
  // The same two by protocol.
  enum class Protocol { kHttp1, kHttp2, kCount };
  std::array<Gauge*, static_cast<size_t>(Protocol::kCount)> streams;
  std::array<Counter*, static_cast<size_t>(Protocol::kCount)> streams_opened;
  std::array<Counter*, static_cast<size_t>(CloseReason::kCount)> closed;
  Counter* events_cache;       // Events sent from the tail cache (live or recent).
  Counter* events_store;       // Events sent from the store (replay behind the cache).
  Counter* bytes;              // Event frame bytes sent.
  Counter* heartbeats;
  Counter* resets;             // tailgate.reset events sent.
  Histogram* lag_events;       // Watermark minus the stream's cursor, per write.
};

// tailgate_http_responses_total{code}: complete HTTP responses (everything
// but SSE streams that started), by status code.
class HttpMetrics {
 public:
  explicit HttpMetrics(MetricsRegistry* registry);
  void CountResponse(unsigned status);

 private:
  MetricsRegistry* registry_;
  std::map<unsigned, Counter*> common_;  // Read-only after construction.
};

// The committer: commit sizes and write latency (store::Options hooks).
struct CommitMetrics {
  explicit CommitMetrics(MetricsRegistry* registry);
  Counter* events_appended;
  Counter* commits;
  Counter* commit_errors;
  Histogram* batch_events;
  Histogram* latency_seconds;
};

// gRPC requests by method and status code, and their duration, through a
// server interceptor: every service (Publisher, Subscriber, Admin, Health,
// reflection) is covered without code in the services. A streaming RPC's
// duration is the whole stream's.
class GrpcMetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit GrpcMetricsInterceptorFactory(MetricsRegistry* registry) : registry_(registry) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

  struct MethodMetrics {
    std::string name;
    Histogram* duration;
    std::array<Counter*, 17> handled{};  // By status code, created on first use.
  };
  // The method's metrics (created on first use; stable pointer).
  MethodMetrics* ForMethod(const char* method);
  Counter* Handled(MethodMetrics* m, int code);

 private:
  MetricsRegistry* const registry_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<MethodMetrics>> methods_;  // Guarded by mu_.
};

// Every component's metrics, registered on one registry.
struct GatewayMetrics {
  explicit GatewayMetrics(MetricsRegistry* registry)
      : commit(registry),
        publish(registry),
        http_publish(registry, "tailgate_http_publish_total"),
        sse(registry),
        http(registry) {}
  CommitMetrics commit;
  PublishMetrics publish;       // Every transport.
  PublishMetrics http_publish;  // POST /v1/publish only (also in `publish`).
  SseMetrics sse;
  HttpMetrics http;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_DIAG_OPS_METRICS_H_

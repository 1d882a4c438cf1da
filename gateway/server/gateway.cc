// The Gateway's life: Start, readiness and health, the process-wide
// metrics, Shutdown. Opening the log (gateway_log.cc), the gRPC server
// (gateway_grpc.cc), the HTTP server (gateway_http.cc) and presence
// (gateway_presence.cc) are apart, one file each.

#include "gateway/server/gateway.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server.h>

#include "absl/strings/str_cat.h"
#include "gateway/grpc/admin_service.h"
#include "gateway/auth/verifier.h"
#include "gateway/publish/http_publish.h"
#include "gateway/http/http_server.h"
#include "gateway/core/hub.h"
#include "gateway/auth/jwks.h"
#include "gateway/diag/logging.h"
#include "gateway/diag/metrics.h"
#include "gateway/http/net.h"
#include "gateway/diag/ops_metrics.h"
#include "gateway/core/presence.h"
#include "gateway/grpc/publisher_service.h"
#include "gateway/auth/revocations.h"
#include "gateway/server/config_check.h"
#include "gateway/server/version.h"
#include "gateway/sse/service.h"
#include "gateway/diag/store_monitor.h"
#include "gateway/grpc/subscriber_service.h"

namespace tailgate {

Gateway::Gateway(const Config& config)
    : config_(config),
      metrics_(std::make_unique<MetricsRegistry>()),
      gateway_metrics_(std::make_unique<GatewayMetrics>(metrics_.get())) {}

namespace {

// How long a failed commit keeps the node unready when no good commit
// follows (see Readiness).
constexpr absl::Duration kCommitFailureHold = absl::Seconds(10);

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(const Config& config) {
  // The binary's ConfigFromFlags has run these; a Config filled in by hand
  // has not.
  if (absl::Status s = CheckConfig(config); !s.ok()) return s;
  std::unique_ptr<Gateway> gw(new Gateway(config));
  if (config.auth.enabled()) {
    absl::StatusOr<std::unique_ptr<JwtVerifier>> verifier = JwtVerifier::Create(config.auth);
    if (!verifier.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWT configuration (--jwt_*): ", verifier.status().message()));
    }
    gw->verifier_ = *std::move(verifier);
  }
  if (config.auth.jwks_enabled()) {  // CheckConfig: only with a verifier.
    absl::StatusOr<std::unique_ptr<JwksProvider>> jwks =
        JwksProvider::Start(config.auth, gw->verifier_.get(), gw->metrics_.get());
    if (!jwks.ok()) return jwks.status();
    gw->jwks_ = *std::move(jwks);
  }
  if (absl::Status s = gw->OpenLog(); !s.ok()) return s;
  if (absl::Status s = gw->OpenPresence(); !s.ok()) return s;
  if (absl::Status s = gw->StartGrpc(); !s.ok()) return s;
  if (absl::Status s = gw->StartHttp(); !s.ok()) return s;
  gw->RegisterMetrics();
  gw->UpdateHealth();
  return gw;
}

std::string Gateway::http_address() const {
  return http_server_ ? http_server_->address() : std::string();
}

uint16_t Gateway::http_port() const { return http_server_ ? http_server_->port() : 0; }

int Gateway::http_connections() const {
  return http_server_ ? http_server_->open_connections() : 0;
}

std::string Gateway::grpc_address() const { return FormatHostPort(grpc_host_, grpc_port_); }

absl::Status Gateway::Readiness() const {
  if (draining_.load(std::memory_order_relaxed)) return absl::UnavailableError("draining");
  if (log_ == nullptr) return absl::UnavailableError("the log is closed");
  if (absl::Status health = log_->Health(); !health.ok()) return health;
  // A failed commit makes the node unready until a good commit, but only
  // for a while: without publishes no good commit ever comes (a load
  // balancer that took every node out would keep them out for good), and a
  // failure can be old news (on JetStream an append lost in a failover times
  // out after --store's ack timeout, long after commits work again). A
  // storage that keeps failing renews it with every failed commit.
  const int64_t failed_at = commit_failed_at_.load(std::memory_order_relaxed);
  if (failed_at != 0 && absl::Now() - absl::FromUnixNanos(failed_at) < kCommitFailureHold) {
    std::lock_guard<std::mutex> lock(commit_error_mu_);
    return absl::UnavailableError(absl::StrCat("the last commit failed: ", commit_error_));
  }
  return absl::OkStatus();
}

void Gateway::UpdateHealth() {
  std::lock_guard<std::mutex> lock(health_mu_);
  if (grpc_server_ == nullptr) return;
  const absl::Status ready = Readiness();
  const int serving = ready.ok() ? 1 : 0;
  if (serving == health_serving_) return;
  if (health_serving_ != -1) {
    if (ready.ok()) {
      TG_LOG(INFO) << "ready again";
    } else {
      TG_LOG(WARNING) << "not ready: " << ready.message();
    }
  }
  health_serving_ = serving;
  // The overall status and every service's ("" and named services alike).
  grpc_server_->GetHealthCheckService()->SetServingStatus(ready.ok());
}

void Gateway::RegisterMetrics() {
  MetricsRegistry* r = metrics_.get();
  r->AddCallbackGaugeFamily("tailgate_build_info", "Always 1; the version is a label.", [] {
    return std::vector<std::pair<Labels, double>>{{Labels{{"version", kVersion}}, 1.0}};
  });
  r->AddCallbackGauge("tailgate_watermark",
                      "Highest id that is durable with every lower id (the log's watermark).",
                      [log = log_.get()] { return static_cast<double>(log->Watermark()); });
  r->AddCallbackGauge("tailgate_ready", "1 when /readyz answers 200, else 0.",
                      [this] { return Readiness().ok() ? 1.0 : 0.0; });
  r->AddCallbackGauge("tailgate_store_available",
                      "1 while the log accepts appends; 0 while its disk is full (RocksDB) "
                      "or its storage is unreachable (JetStream).",
                      [log = log_.get()] { return log->Health().ok() ? 1.0 : 0.0; });
  r->AddCallbackGauge("tailgate_http_connections",
                      "Open HTTP connections, SSE streams included (--max_connections).",
                      [this] { return static_cast<double>(http_connections()); });
  r->AddCallbackGaugeFamily(
      "tailgate_http_protocol_connections",
      "Open HTTP connections by protocol (http/1.1 or h2); they sum to tailgate_http_connections.",
      [this]() -> std::vector<std::pair<Labels, double>> {
        if (!http_server_) return {};
        const int h2 = http_server_->http2_connections();
        const int all = http_server_->open_connections();
        return {{{{"protocol", "http/1.1"}}, static_cast<double>(std::max(all - h2, 0))},
                {{{"protocol", "h2"}}, static_cast<double>(h2)}};
      });
  r->AddCallbackGauge("tailgate_http2_streams",
                      "Open HTTP/2 request streams (SSE streams included).", [this] {
                        return http_server_ ? static_cast<double>(http_server_->http2_streams())
                                            : 0.0;
                      });
  r->AddCallbackGauge("tailgate_tail_cache_events", "Events in the in-memory tail cache.",
                      [hub = hub_.get()] { return static_cast<double>(hub->cache_stats().events); });
  r->AddCallbackGauge("tailgate_tail_cache_bytes", "Memory held by the tail cache's frames.",
                      [hub = hub_.get()] { return static_cast<double>(hub->cache_stats().bytes); });
  StoreMonitor::Options mo;
  mo.interval = config_.ops.stats_interval;
  mo.topics = config_.ops.metrics_topics;
  mo.topics_limit = config_.ops.metrics_topics_limit;
  monitor_ = std::make_unique<StoreMonitor>(log_.get(), r, mo, [this] { UpdateHealth(); });
}

size_t Gateway::publish_streams() const { return publisher_ ? publisher_->open_streams() : 0; }

void Gateway::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time drain_start = absl::Now();
  draining_.store(true);
  // Readiness off first (load balancers stop routing here); the store
  // statistics thread stops before the things it looks at.
  if (monitor_) monitor_->Stop();
  UpdateHealth();
  TG_LOG(INFO) << "draining: " << http_connections() << " HTTP connection(s) ("
               << (sse_ ? sse_->active_streams() : 0) << " SSE stream(s)), "
               << publish_streams() << " publish stream(s) open, watermark "
               << (log_ ? log_->Watermark() : 0);
  if (config_.ops.drain_grace > absl::ZeroDuration()) {
    TG_LOG(INFO) << "drain: still serving for --drain_grace=" << config_.ops.drain_grace
                 << " while readiness is off";
    absl::SleepFor(config_.ops.drain_grace);
  }
  // New publishes get UNAVAILABLE; acks already in flight are still written.
  if (publisher_) publisher_->StartDraining();
  if (grpc_server_) grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  const absl::Time deadline = absl::Now() + config_.drain_timeout;
  // Stop accepting; SSE streams end after their write in flight (clients
  // reconnect elsewhere with Last-Event-ID); Subscribe streams end UNAVAILABLE.
  if (http_server_) http_server_->Drain();
  if (subscriber_) subscriber_->Drain();
  if (grpc_server_) {
    // Lets in-flight RPCs finish, then cancels whatever is left.
    grpc_server_->Shutdown(std::chrono::system_clock::now() +
                           absl::ToChronoMilliseconds(config_.drain_timeout));
    grpc_server_->Wait();
    grpc_server_.reset();
    TG_LOG(DEBUG) << "drain: gRPC server stopped after " << absl::Now() - drain_start;
  }
  if (http_server_ && !http_server_->WaitIdle(deadline)) {
    TG_LOG(WARNING) << "drain timeout: closing " << http_server_->open_connections()
                    << " HTTP connection(s)";
  }
  // Wakes what still waits on the hub; joins the store readers. The hub
  // object stays until the sessions using it are gone.
  if (hub_) hub_->Stop();
  if (http_server_) {
    http_server_->Stop();  // Waits for POST /v1/publish responses pending on appends.
    http_server_.reset();
  }
  http_publish_.reset();
  subscriber_.reset();
  sse_.reset();
  hub_.reset();
  // Last: every RPC is done, so nothing appends any more; Close completes the
  // appends already accepted (their callbacks run before it returns).
  const uint64_t final_watermark = log_ ? log_->Watermark() : 0;
  if (log_) log_->Close();
  publisher_.reset();
  monitor_.reset();
  log_.reset();
  admin_.reset();
  TG_LOG(INFO) << "stopped: drained in " << absl::Now() - drain_start << ", watermark "
               << final_watermark << ", "
               << gateway_metrics_->commit.events_appended->value()
               << " event(s) appended since start";
}

Gateway::~Gateway() { Shutdown(); }

}  // namespace tailgate

#include "gateway/gateway.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>
#include <system_error>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "gateway/admin_service.h"
#include "grpc/health/v1/health.pb.h"
#include "gateway/auth.h"
#include "gateway/http_publish.h"
#include "gateway/http_server.h"
#include "gateway/core/hub.h"
#include "gateway/jwks.h"
#include "gateway/logging.h"
#include "gateway/metrics.h"
#include "gateway/net.h"
#include "gateway/ops_metrics.h"
#include "gateway/presence.h"
#include "gateway/revocations.h"
#include "gateway/store_monitor.h"
#include "gateway/version.h"
#include "gateway/web_assets.h"
#include "gateway/publisher_service.h"
#include "gateway/sse/frame.h"
#include "gateway/sse/service.h"
#include "gateway/grpc/subscriber_service.h"

namespace tailgate {

namespace http = boost::beast::http;

Gateway::Gateway(const Config& config)
    : config_(config),
      metrics_(std::make_unique<MetricsRegistry>()),
      gateway_metrics_(std::make_unique<GatewayMetrics>(metrics_.get())) {}

namespace {

// How long a failed commit keeps the node unready when no good commit
// follows (see Readiness).
constexpr absl::Duration kCommitFailureHold = absl::Seconds(10);

absl::StatusOr<std::string> ReadPemFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": cannot read"));
  }
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": missing or empty"));
  }
  return text;
}

// Plaintext unless a certificate is configured; mutual TLS with a client CA.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcCredentials(const GrpcConfig& c) {
  if (c.tls_cert_file.empty() && c.tls_key_file.empty()) {
    if (!c.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("--grpc_tls_client_ca needs --grpc_tls_cert and --grpc_tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (c.tls_cert_file.empty() || c.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--grpc_tls_cert and --grpc_tls_key must be given together");
  }
  absl::StatusOr<std::string> cert = ReadPemFile(c.tls_cert_file, "grpc_tls_cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile(c.tls_key_file, "grpc_tls_key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!c.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile(c.tls_client_ca_file, "grpc_tls_client_ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(options);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(const Config& config) {
  std::unique_ptr<Gateway> gw(new Gateway(config));
  if (config.publish.http_mode == PublishConfig::HttpMode::kOn && !config.auth.publish_required) {
    return absl::InvalidArgumentError(
        "--http_publish=on checks tokens like gRPC publishing: it needs --auth_publish=required "
        "and a JWT configuration (--jwt_*); --http_publish=open accepts anyone");
  }
  if (config.auth.enabled()) {
    absl::StatusOr<std::unique_ptr<JwtVerifier>> verifier = JwtVerifier::Create(config.auth);
    if (!verifier.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWT configuration (--jwt_*): ", verifier.status().message()));
    }
    gw->verifier_ = *std::move(verifier);
  }
  if (config.auth.jwks_enabled()) {
    if (gw->verifier_ == nullptr) {
      return absl::InvalidArgumentError(
          "--auth_jwks_file / --auth_jwks_url need --auth_subscribe or --auth_publish=required");
    }
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

absl::Status Gateway::OpenLog() {
  store::Options options = config_.store;
  const bool jetstream = config_.store_backend == Config::StoreBackend::kJetStream;
  if (!jetstream && options.data_dir.empty()) {
    return absl::InvalidArgumentError("--data_dir must not be empty");
  }
  options.max_data_bytes = config_.publish.max_data_bytes;
  // Metrics and readiness from the committer (cheap: relaxed atomics; a
  // slow-commit warning at most every 10 s).
  CommitMetrics* cm = &gateway_metrics_->commit;
  // Both can fire on every commit while the disk or the cluster struggles.
  auto slow_log = std::make_shared<LogThrottle>(absl::Seconds(10));
  auto error_log = std::make_shared<LogThrottle>(absl::Seconds(10));
  options.commit_observer = [this, cm, slow = config_.ops.slow_commit,
                             slow_log](size_t events, absl::Duration latency) {
    cm->events_appended->Increment(events);
    cm->commits->Increment();
    cm->batch_events->Observe(static_cast<double>(events));
    cm->latency_seconds->Observe(absl::ToDoubleSeconds(latency));
    if (commit_failed_at_.load(std::memory_order_relaxed) != 0 &&
        commit_failed_at_.exchange(0, std::memory_order_relaxed) != 0) {
      TG_LOG(INFO) << "commits succeed again";
    }
    if (uint64_t held = 0; slow > absl::ZeroDuration() && latency > slow && slow_log->Admit(&held)) {
      TG_LOG(WARNING) << "slow commit: " << events << " event(s) took " << latency
                      << " (--slow_commit=" << slow << ")" << Held(held);
    }
  };
  options.commit_error_observer = [this, cm, error_log](const absl::Status& error) {
    cm->commit_errors->Increment();
    {
      std::lock_guard<std::mutex> lock(commit_error_mu_);
      commit_error_ = std::string(error.message());
    }
    commit_failed_at_.store(absl::ToUnixNanos(absl::Now()), std::memory_order_relaxed);
    if (uint64_t held = 0; error_log->Admit(&held)) {
      TG_LOG(ERROR) << "commit failed: " << error.ToString() << Held(held);
    }
  };
  // RocksDB's own warnings, which can repeat every second while the disk is
  // full and its recovery retries.
  auto engine_log = std::make_shared<LogThrottle>(absl::Seconds(10));
  options.diagnostics = [engine_log](store::DiagnosticSeverity severity, std::string_view line) {
    uint64_t held = 0;
    if (severity == store::DiagnosticSeverity::kInfo || !engine_log->Admit(&held)) return;
    if (severity == store::DiagnosticSeverity::kError) {
      TG_LOG(ERROR) << "rocksdb: " << line << Held(held);
    } else {
      TG_LOG(WARNING) << "rocksdb: " << line << Held(held);
    }
  };
  if (jetstream) {
    // No data dir: the stream is the log.
    absl::StatusOr<std::unique_ptr<store::Log>> log =
        store::OpenJetStreamLog(options, config_.jetstream);
    if (!log.ok()) {
      return absl::Status(log.status().code(),
                          absl::StrCat("--store=jetstream --nats_url=", config_.jetstream.url,
                                       " stream ", config_.jetstream.stream, ": ",
                                       log.status().message()));
    }
    log_ = *std::move(log);
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options.data_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("--data_dir=", options.data_dir, ": cannot create: ", ec.message()));
    }
    // The log locks the directory itself: one process per data dir.
    absl::StatusOr<std::unique_ptr<store::Log>> log = store::OpenRocksDbLog(options);
    if (!log.ok()) {
      return absl::Status(log.status().code(), absl::StrCat("--data_dir=", options.data_dir, ": ",
                                                            log.status().message()));
    }
    log_ = *std::move(log);
  }
  HubOptions hub_options;
  hub_options.encoder = &SseEventEncoder();  // Frames shared by every SSE stream.
  hub_options.cache_events = config_.sse.tail_cache_events;
  hub_options.cache_bytes = config_.sse.tail_cache_bytes;
  hub_options.store_threads = config_.sse.store_threads;
  hub_ = std::make_unique<Hub>(log_.get(), hub_options);
  if (jetstream) {
    TG_LOG(INFO) << "log open: backend jetstream, stream " << config_.jetstream.stream
                 << " (subjects " << config_.jetstream.subject_prefix << ".>, replicas "
                 << config_.jetstream.replicas << ") at " << config_.jetstream.url
                 << " (watermark " << log_->Watermark() << ")";
  } else {
    TG_LOG(INFO) << "log open: backend rocksdb in " << options.data_dir << " (durability "
                 << store::DurabilityName(options.durability) << ", watermark "
                 << log_->Watermark() << ")";
  }
  return absl::OkStatus();
}

absl::Status Gateway::StartGrpc() {
  absl::StatusOr<HostPort> hp = ParseHostPort(config_.grpc.listen, "grpc_listen");
  if (!hp.ok()) return hp.status();
  grpc_host_ = hp->host;
  grpc::EnableDefaultHealthCheckService(true);
  // gRPC's health service encodes its messages without protobuf descriptors,
  // so reflection (grpcurl describe) could list grpc.health.v1.Health but not
  // describe it. Touching a generated health message links the descriptor in
  // and registers it in the pool reflection serves.
  grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<GrpcMetricsInterceptorFactory>(metrics_.get()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      GrpcCredentials(config_.grpc);
  if (!credentials.ok()) return credentials.status();
  // Admin needs a token whenever auth is on for anything.
  const JwtVerifier* publish_auth = config_.auth.publish_required ? verifier_.get() : nullptr;
  const JwtVerifier* subscribe_auth = config_.auth.subscribe_required ? verifier_.get() : nullptr;
  publisher_ = std::make_unique<PublisherService>(log_.get(), config_.publish, publish_auth);
  publisher_->set_metrics(&gateway_metrics_->publish);
  builder.RegisterService(publisher_.get());
  if (config_.ops.admin) {
    const bool jetstream = config_.store_backend == Config::StoreBackend::kJetStream;
    // --durability is RocksDB's; on JetStream the stream's replicas decide.
    std::string durability = jetstream ? absl::StrCat("jetstream, replicas=", config_.jetstream.replicas)
                                       : std::string(store::DurabilityName(config_.store.durability));
    admin_ = std::make_unique<AdminService>(log_.get(), std::move(durability),
                                            /*topic_bytes_unknown=*/jetstream, verifier_.get());
    admin_->set_presence(streams_.get(), revocations_.get());
    builder.RegisterService(admin_.get());
  }
  subscriber_ = std::make_unique<SubscriberService>(hub_.get(), config_.sse, subscribe_auth);
  subscriber_->set_presence(streams_.get());
  builder.RegisterService(subscriber_.get());
  // Room for a whole batch, and always for one event of the largest data.
  const size_t max_request =
      std::max(config_.publish.max_request_bytes, config_.publish.max_data_bytes + 64 * 1024);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(max_request, INT_MAX)));
  // gRPC's own buffers (requests received but not yet handed to a handler,
  // flow-control windows) under the same bound as what the publisher holds:
  // under pressure its transport shrinks the windows it grants, so senders
  // wait instead of the server buffering.
  grpc::ResourceQuota quota("tailgate-grpc");
  quota.Resize(config_.publish.memory_budget_bytes);
  builder.SetResourceQuota(quota);
  int selected_port = 0;
  builder.AddListeningPort(FormatHostPort(hp->host, hp->port), *credentials, &selected_port);
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || selected_port == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("--grpc_listen=", config_.grpc.listen, ": cannot listen"));
  }
  grpc_port_ = static_cast<uint16_t>(selected_port);
  TG_LOG(INFO) << "grpc listening on " << grpc_address()
               << (config_.grpc.tls_cert_file.empty()            ? " (plaintext)"
                   : config_.grpc.tls_client_ca_file.empty() ? " (TLS)"
                                                              : " (mutual TLS)");
  return absl::OkStatus();
}

absl::Status Gateway::StartHttp() {
  auto router = std::make_shared<HttpRouter>();
  router->OnResponse([m = &gateway_metrics_->http](unsigned status) { m->CountResponse(status); });
  // The demo page: the first thing a new user opens.
  auto demo = [](const HttpRequest& req) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      HttpResponse res =
          TextResponse(req, http::status::method_not_allowed, "method not allowed: use GET\n");
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    HttpResponse res = TextResponse(req, http::status::ok, std::string(DemoPageHtml()));
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.set(http::field::cache_control, "no-cache");
    return res;
  };
  sse_ = std::make_unique<SseService>(
      hub_.get(), config_.sse, config_.auth.subscribe_required ? verifier_.get() : nullptr,
      TokenSources{config_.auth.cookie_name, config_.auth.allow_query_param});
  sse_->set_metrics(&gateway_metrics_->sse);
  sse_->set_presence(streams_.get());
  sse_->Register(router.get());
  http_publish_ = std::make_unique<HttpPublishService>(
      log_.get(), config_.publish, publisher_.get(), verifier_.get(), &gateway_metrics_->publish,
      &gateway_metrics_->http_publish, config_.http.retry_after);
  http_publish_->Register(router.get());
  router->Handle("/v1/tailgate.js", [](const HttpRequest& req) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      HttpResponse res =
          TextResponse(req, http::status::method_not_allowed, "method not allowed: use GET\n");
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    HttpResponse res = TextResponse(req, http::status::ok, std::string(TailgateJs()));
    res.set(http::field::content_type, "text/javascript; charset=utf-8");
    res.set(http::field::cache_control, "no-cache");
    // Public code: pages on other origins may import it (module scripts
    // are fetched in CORS mode).
    res.set(http::field::access_control_allow_origin, "*");
    return res;
  });
  router->Handle("/", demo);
  router->Handle("/demo", demo);
  router->Handle("/healthz", [](const HttpRequest& req) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      HttpResponse res =
          TextResponse(req, http::status::method_not_allowed, "method not allowed: use GET\n");
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    return TextResponse(req, http::status::ok, "ok\n");
  });
  auto get_only = [](const HttpRequest& req) -> std::optional<HttpResponse> {
    if (req.method() == http::verb::get || req.method() == http::verb::head) return std::nullopt;
    HttpResponse res =
        TextResponse(req, http::status::method_not_allowed, "method not allowed: use GET\n");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  };
  // Renders on the event loop: every source is in memory (store statistics
  // come from StoreMonitor's snapshot), so nothing here blocks on disk.
  router->Handle("/metrics", [this, get_only](const HttpRequest& req) {
    if (std::optional<HttpResponse> refusal = get_only(req)) return *std::move(refusal);
    HttpResponse res = TextResponse(req, http::status::ok, metrics_->Render());
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    return res;
  });
  router->Handle("/readyz", [this, get_only](const HttpRequest& req) {
    if (std::optional<HttpResponse> refusal = get_only(req)) return *std::move(refusal);
    const absl::Status ready = Readiness();
    if (ready.ok()) return TextResponse(req, http::status::ok, "ready\n");
    HttpResponse res = TextResponse(req, http::status::service_unavailable,
                                    absl::StrCat("not ready: ", ready.message(), "\n"));
    res.set(http::field::retry_after,
            std::to_string(absl::ToInt64Seconds(config_.http.retry_after)));
    return res;
  });
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(config_.http, router);
  if (!server.ok()) return server.status();
  http_server_ = *std::move(server);
  TG_LOG(INFO) << "http listening on " << http_address()
               << (config_.http.tls_cert_file.empty() ? " (plaintext)" : " (TLS)");
  if (config_.publish.http_mode == PublishConfig::HttpMode::kOpen) {
    TG_LOG(WARNING) << "--http_publish=open: ANYONE who can reach " << http_address()
                    << " may publish to ANY topic with POST /v1/publish, without a token; "
                       "use it only for development on loopback (--http_publish=on checks "
                       "tokens)";
  }
  return absl::OkStatus();
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

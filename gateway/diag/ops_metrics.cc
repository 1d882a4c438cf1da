#include "gateway/diag/ops_metrics.h"

#include <chrono>

namespace tailgate {
namespace {

// Lower-case gRPC status code names, as the "code" label and publish results.
const char* CodeName(int code) {
  static const char* const kNames[17] = {
      "ok",           "cancelled",        "unknown",           "invalid_argument",
      "deadline_exceeded", "not_found",   "already_exists",    "permission_denied",
      "resource_exhausted", "failed_precondition", "aborted",  "out_of_range",
      "unimplemented", "internal",        "unavailable",       "data_loss",
      "unauthenticated"};
  return code >= 0 && code < 17 ? kNames[code] : "unknown";
}

// Publish results: the operator's vocabulary for the status codes a publish
// can end with.
const char* PublishResultName(int code) {
  switch (code) {
    case 3: return "invalid";        // INVALID_ARGUMENT
    case 8: return "too_large";      // RESOURCE_EXHAUSTED
    case 14: return "unavailable";   // UNAVAILABLE
    case 1: return "cancelled";
    case 4: return "deadline_exceeded";
    case 6: return "conflict";       // ALREADY_EXISTS (idempotency key reused)
    case 7: return "permission_denied";
    case 16: return "unauthenticated";
    case 13: return "internal";
    default: return nullptr;  // "error"
  }
}

constexpr char kPublishHelp[] =
    "Published events by outcome: ok, duplicate (idempotent repeat), invalid, too_large, "
    "unavailable (draining), cancelled, deadline_exceeded, unauthenticated, permission_denied, "
    "conflict (idempotency key reused for another event), "
    "internal, error.";
constexpr char kHttpPublishHelp[] = "The POST /v1/publish share of tailgate_publish_total. ";

}  // namespace

PublishMetrics::PublishMetrics(MetricsRegistry* r, const std::string& family) {
  const std::string help = family == "tailgate_publish_total"
                               ? std::string(kPublishHelp)
                               : std::string(kHttpPublishHelp) + kPublishHelp;
  ok_ = r->GetCounter(family, help, {{"result", "ok"}});
  duplicate_ = r->GetCounter(family, help, {{"result", "duplicate"}});
  other_ = r->GetCounter(family, help, {{"result", "error"}});
  by_code_[0] = ok_;
  for (int code = 1; code < 17; ++code) {
    const char* name = PublishResultName(code);
    by_code_[code] = name == nullptr ? other_ : r->GetCounter(family, help, {{"result", name}});
  }
}

void PublishMetrics::CountCode(int code, uint64_t n) {
  (code >= 0 && code < 17 ? by_code_[code] : other_)->Increment(n);
}

void PublishMetrics::CountAppended(const std::vector<store::AppendResult>& results) {
  uint64_t dup = 0;
  for (const store::AppendResult& r : results) dup += r.duplicate ? 1 : 0;
  if (results.size() > dup) ok_->Increment(results.size() - dup);
  if (dup > 0) duplicate_->Increment(dup);
}

SseMetrics::SseMetrics(MetricsRegistry* r) {
  connections = r->GetGauge("tailgate_sse_connections", "SSE streams open now.");
  opened = r->GetCounter("tailgate_sse_connections_opened_total",
                         "SSE streams started (200 sent).");
  const char* const kProtocols[] = {"http/1.1", "h2"};
  for (size_t i = 0; i < streams.size(); ++i) {
    streams[i] = r->GetGauge("tailgate_sse_streams",
                             "SSE streams open now, by protocol: http/1.1 or h2.",
                             {{"protocol", kProtocols[i]}});
    streams_opened[i] = r->GetCounter("tailgate_sse_streams_opened_total",
                                      "SSE streams started (200 sent), by protocol.",
                                      {{"protocol", kProtocols[i]}});
  }
  constexpr char kClosedHelp[] =
      "SSE streams ended, by reason: client_closed, write_error, write_timeout, draining, "
      "server_error, token_expired, revoked.";
  const char* const kReasons[] = {"client_closed", "write_error", "write_timeout", "draining",
                                  "server_error",  "token_expired", "revoked"};
  for (size_t i = 0; i < closed.size(); ++i) {
    closed[i] = r->GetCounter("tailgate_sse_connections_closed_total", kClosedHelp,
                              {{"reason", kReasons[i]}});
  }
  constexpr char kEventsHelp[] =
      "Events sent on SSE streams, by source: cache (live and recent, from the in-memory tail "
      "cache) or store (replay of history behind the cache).";
  events_cache =
      r->GetCounter("tailgate_sse_events_sent_total", kEventsHelp, {{"source", "cache"}});
  events_store =
      r->GetCounter("tailgate_sse_events_sent_total", kEventsHelp, {{"source", "store"}});
  bytes = r->GetCounter("tailgate_sse_event_bytes_sent_total",
                        "Bytes of SSE event frames sent (HTTP framing excluded).");
  heartbeats = r->GetCounter("tailgate_sse_heartbeats_total", "Heartbeat comments sent.");
  resets = r->GetCounter("tailgate_sse_resets_total",
                         "tailgate.reset events sent (history trimmed or unknown id).");
  lag_events = r->GetHistogram(
      "tailgate_sse_lag_events",
      "How far behind the watermark a stream is when it writes (events), observed per write.",
      {0, 1, 10, 100, 1000, 10000, 100000, 1000000});
}

HttpMetrics::HttpMetrics(MetricsRegistry* r) : registry_(r) {
  for (unsigned code : {200u, 204u, 400u, 401u, 403u, 404u, 405u, 431u, 500u, 503u}) {
    common_[code] = r->GetCounter("tailgate_http_responses_total",
                                  "Complete HTTP responses (SSE streams not included), by "
                                  "status code.",
                                  {{"code", std::to_string(code)}});
  }
}

void HttpMetrics::CountResponse(unsigned status) {
  auto it = common_.find(status);
  if (it != common_.end()) return it->second->Increment();
  // Rare codes: a registry lookup (a lock), fine off the hot path.
  registry_
      ->GetCounter("tailgate_http_responses_total",
                   "Complete HTTP responses (SSE streams not included), by status code.",
                   {{"code", std::to_string(status)}})
      ->Increment();
}

CommitMetrics::CommitMetrics(MetricsRegistry* r) {
  events_appended = r->GetCounter("tailgate_events_appended_total",
                                  "Events stored in the log (duplicates excluded).");
  commits = r->GetCounter("tailgate_commits_total", "Group commits written to the log.");
  commit_errors =
      r->GetCounter("tailgate_commit_errors_total", "Group commits whose write failed.");
  batch_events = r->GetHistogram("tailgate_commit_batch_events",
                                 "Events per group commit (one WAL write and sync).",
                                 {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096});
  latency_seconds = r->GetHistogram(
      "tailgate_commit_latency_seconds",
      "Duration of a group commit's write, WAL sync included (per --durability).",
      ExponentialBuckets(0.0001, 2, 16));  // 100us .. ~3.3s
}

// ---------------------------------------------------------------------------
// gRPC interceptor.

namespace {

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcMetricsInterceptorFactory* factory,
                     GrpcMetricsInterceptorFactory::MethodMetrics* method)
      : factory_(factory), method_(method), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const int code = static_cast<int>(methods->GetSendStatus().error_code());
      factory_->Handled(method_, code)->Increment();
      method_->duration->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  GrpcMetricsInterceptorFactory* const factory_;
  GrpcMetricsInterceptorFactory::MethodMetrics* const method_;
  const std::chrono::steady_clock::time_point start_;
};

}  // namespace

grpc::experimental::Interceptor* GrpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new MetricsInterceptor(this, ForMethod(info->method()));
}

GrpcMetricsInterceptorFactory::MethodMetrics* GrpcMetricsInterceptorFactory::ForMethod(
    const char* method) {
  // Only registered methods reach interceptors, so the label set is bounded.
  std::string name = method == nullptr ? std::string("unknown") : std::string(method);
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<MethodMetrics>& slot = methods_[name];
  if (!slot) {
    slot = std::make_unique<MethodMetrics>();
    slot->name = name;
    slot->duration = registry_->GetHistogram(
        "tailgate_grpc_server_handling_seconds",
        "gRPC request duration by method (streams: the whole stream).",
        ExponentialBuckets(0.0005, 4, 10), {{"method", name}});
  }
  return slot.get();
}

Counter* GrpcMetricsInterceptorFactory::Handled(MethodMetrics* m, int code) {
  if (code < 0 || code >= 17) code = 2;  // UNKNOWN
  std::lock_guard<std::mutex> lock(mu_);
  Counter*& c = m->handled[code];
  if (c == nullptr) {
    c = registry_->GetCounter("tailgate_grpc_server_handled_total",
                              "gRPC requests completed, by method and status code.",
                              {{"method", m->name}, {"code", CodeName(code)}});
  }
  return c;
}

}  // namespace tailgate

// Gateway::StartHttp: the HTTP routes (SSE, POST /v1/publish, the demo
// page and tailgate.js, /healthz, /readyz, /metrics) and the HTTP server.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/auth/token_extraction.h"
#include "gateway/auth/verifier.h"
#include "gateway/publish/http_publish.h"
#include "gateway/http/http_server.h"
#include "gateway/diag/logging.h"
#include "gateway/diag/metrics.h"
#include "gateway/diag/ops_metrics.h"
#include "gateway/server/gateway.h"
#include "gateway/sse/service.h"
#include "gateway/web_assets.h"

namespace tailgate {

namespace http = boost::beast::http;

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

}  // namespace tailgate

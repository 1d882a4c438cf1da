#include "gateway/gateway.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <filesystem>
#include <system_error>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "gateway/http_server.h"
#include "gateway/hub.h"
#include "gateway/logging.h"
#include "gateway/net.h"
#include "gateway/web_assets.h"
#include "gateway/publisher_service.h"
#include "gateway/sse_service.h"
#include "gateway/subscriber_service.h"

namespace tailgate {

namespace http = boost::beast::http;

Gateway::Gateway(const Config& config) : config_(config) {}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(const Config& config) {
  std::unique_ptr<Gateway> gw(new Gateway(config));
  if (absl::Status s = gw->OpenLog(); !s.ok()) return s;
  if (absl::Status s = gw->StartGrpc(); !s.ok()) return s;
  if (absl::Status s = gw->StartHttp(); !s.ok()) return s;
  return gw;
}

absl::Status Gateway::OpenLog() {
  store::Options options = config_.store;
  if (options.data_dir.empty()) return absl::InvalidArgumentError("--data_dir must not be empty");
  options.max_data_bytes = config_.publish.max_data_bytes;
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
  HubOptions hub_options;
  hub_options.cache_events = config_.sse.tail_cache_events;
  hub_options.cache_bytes = config_.sse.tail_cache_bytes;
  hub_options.store_threads = config_.sse.store_threads;
  hub_ = std::make_unique<Hub>(log_.get(), hub_options);
  TG_LOG(INFO) << "log open in " << options.data_dir << " (durability "
               << store::DurabilityName(options.durability) << ", watermark "
               << log_->Watermark() << ")";
  return absl::OkStatus();
}

absl::Status Gateway::StartGrpc() {
  absl::StatusOr<HostPort> hp = ParseHostPort(config_.grpc.listen, "grpc_listen");
  if (!hp.ok()) return hp.status();
  grpc_host_ = hp->host;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  publisher_ = std::make_unique<PublisherService>(log_.get(), config_.publish);
  builder.RegisterService(publisher_.get());
  subscriber_ = std::make_unique<SubscriberService>(hub_.get(), config_.sse);
  builder.RegisterService(subscriber_.get());
  // Room for a whole batch, and always for one event of the largest data.
  const size_t max_request =
      std::max(config_.publish.max_request_bytes, config_.publish.max_data_bytes + 64 * 1024);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(max_request, INT_MAX)));
  int selected_port = 0;
  builder.AddListeningPort(FormatHostPort(hp->host, hp->port), grpc::InsecureServerCredentials(),
                           &selected_port);
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || selected_port == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("--grpc_listen=", config_.grpc.listen, ": cannot listen"));
  }
  grpc_port_ = static_cast<uint16_t>(selected_port);
  grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  TG_LOG(INFO) << "grpc listening on " << grpc_address();
  return absl::OkStatus();
}

absl::Status Gateway::StartHttp() {
  auto router = std::make_shared<HttpRouter>();
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
  sse_ = std::make_unique<SseService>(hub_.get(), config_.sse);
  sse_->Register(router.get());
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
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(config_.http, router);
  if (!server.ok()) return server.status();
  http_server_ = *std::move(server);
  TG_LOG(INFO) << "http listening on " << http_address();
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

void Gateway::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  TG_LOG(INFO) << "draining";
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
  }
  if (http_server_ && !http_server_->WaitIdle(deadline)) {
    TG_LOG(WARNING) << "drain timeout: closing " << http_server_->open_connections()
                    << " HTTP connection(s)";
  }
  // Wakes what still waits on the hub; joins the store readers. The hub
  // object stays until the sessions using it are gone.
  if (hub_) hub_->Stop();
  if (http_server_) {
    http_server_->Stop();
    http_server_.reset();
  }
  subscriber_.reset();
  sse_.reset();
  hub_.reset();
  // Last: every RPC is done, so nothing appends any more; Close completes the
  // appends already accepted (their callbacks run before it returns).
  if (log_) log_->Close();
  publisher_.reset();
  log_.reset();
  TG_LOG(INFO) << "stopped";
}

Gateway::~Gateway() { Shutdown(); }

}  // namespace tailgate

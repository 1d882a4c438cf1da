#include "gateway/gateway.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "gateway/http_server.h"
#include "gateway/logging.h"
#include "gateway/net.h"

namespace tailgate {

namespace http = boost::beast::http;

Gateway::Gateway(const Config& config) : config_(config) {}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(const Config& config) {
  std::unique_ptr<Gateway> gw(new Gateway(config));
  if (absl::Status s = gw->OpenDataDir(); !s.ok()) return s;
  if (absl::Status s = gw->StartGrpc(); !s.ok()) return s;
  if (absl::Status s = gw->StartHttp(); !s.ok()) return s;
  return gw;
}

absl::Status Gateway::OpenDataDir() {
  const std::string& dir = config_.store.data_dir;
  if (dir.empty()) return absl::InvalidArgumentError("--data_dir must not be empty");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("--data_dir=", dir, ": cannot create: ", ec.message()));
  }
  // One process per data dir: a second gateway on the same dir would fork the log.
  const std::string lock_path = (std::filesystem::path(dir) / "tailgate.lock").string();
  data_dir_lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (data_dir_lock_fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("--data_dir=", dir, ": cannot open ", lock_path, ": ", std::strerror(errno)));
  }
  if (::flock(data_dir_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::UnavailableError(
        absl::StrCat("--data_dir=", dir, " is in use by another tailgate process"));
  }
  TG_LOG(INFO) << "data dir " << dir;
  return absl::OkStatus();
}

absl::Status Gateway::StartGrpc() {
  absl::StatusOr<HostPort> hp = ParseHostPort(config_.grpc.listen, "grpc_listen");
  if (!hp.ok()) return hp.status();
  grpc_host_ = hp->host;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
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

std::string Gateway::grpc_address() const { return FormatHostPort(grpc_host_, grpc_port_); }

void Gateway::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  TG_LOG(INFO) << "draining";
  if (grpc_server_) grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  if (http_server_) http_server_->StopAccepting();
  if (grpc_server_) {
    // Lets in-flight RPCs finish, then cancels whatever is left.
    grpc_server_->Shutdown(std::chrono::system_clock::now() +
                           absl::ToChronoMilliseconds(config_.drain_timeout));
    grpc_server_->Wait();
    grpc_server_.reset();
  }
  if (http_server_) {
    http_server_->Stop();
    http_server_.reset();
  }
  if (data_dir_lock_fd_ >= 0) {
    ::close(data_dir_lock_fd_);
    data_dir_lock_fd_ = -1;
  }
  TG_LOG(INFO) << "stopped";
}

Gateway::~Gateway() { Shutdown(); }

}  // namespace tailgate

// Gateway::StartGrpc: credentials, the Publisher, Admin and Subscriber
// services, health and reflection on one gRPC server.
#include <algorithm>
#include <climits>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>

#include "absl/strings/str_cat.h"
#include "gateway/grpc/admin_service.h"
#include "gateway/auth/verifier.h"
#include "gateway/diag/logging.h"
#include "gateway/http/net.h"
#include "gateway/diag/ops_metrics.h"
#include "gateway/core/presence.h"
#include "gateway/grpc/publisher_service.h"
#include "gateway/auth/revocations.h"
#include "gateway/server/gateway.h"
#include "gateway/grpc/subscriber_service.h"
#include "grpc/health/v1/health.pb.h"

namespace tailgate {
namespace {

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
// CheckConfig has made sure the files come as a pair.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcCredentials(const GrpcConfig& c) {
  if (c.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
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

}  // namespace tailgate

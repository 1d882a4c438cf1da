#include "gateway/server/config_check.h"

#include <algorithm>

namespace tailgate {

absl::Status CheckConfig(const Config& config) {
  // Any origin with credentials would let every site read a logged-in user's
  // stream (the origin is echoed with Allow-Credentials): refuse, do not guess.
  const std::vector<std::string>& origins = config.sse.cors_origins;
  if (config.sse.cors_credentials && std::find(origins.begin(), origins.end(), "*") != origins.end()) {
    return absl::InvalidArgumentError(
        "--cors_origins=* cannot be combined with --cors_credentials (any site could read a "
        "logged-in user's stream); list the allowed origins instead");
  }
  if (config.store_backend == Config::StoreBackend::kRocksDb && config.store.data_dir.empty()) {
    return absl::InvalidArgumentError("--data_dir must not be empty");
  }
  const AuthConfig& auth = config.auth;
  if (auth.enabled() && auth.algorithms.empty()) {
    return absl::InvalidArgumentError(
        "--jwt_algorithms is required when --auth_subscribe or --auth_publish is required");
  }
  if (config.http.tls_cert_file.empty() != config.http.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--http_tls_cert and --http_tls_key must be given together");
  }
  if (config.grpc.tls_cert_file.empty() != config.grpc.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--grpc_tls_cert and --grpc_tls_key must be given together");
  }
  if (!config.grpc.tls_client_ca_file.empty() && config.grpc.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--grpc_tls_client_ca needs --grpc_tls_cert and --grpc_tls_key");
  }
  if (config.publish.http_mode == PublishConfig::HttpMode::kOn && !auth.publish_required) {
    return absl::InvalidArgumentError(
        "--http_publish=on checks tokens like gRPC publishing: it needs --auth_publish=required "
        "and a JWT configuration (--jwt_*); --http_publish=open accepts anyone");
  }
  // Keys from a JWKS only feed the verifier, which exists only with auth on.
  if (auth.jwks_enabled() && !auth.enabled()) {
    return absl::InvalidArgumentError(
        "--auth_jwks_file / --auth_jwks_url need --auth_subscribe or --auth_publish=required");
  }
  return absl::OkStatus();
}

}  // namespace tailgate

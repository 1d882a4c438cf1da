// JWT authentication of a gRPC call: the `authorization: Bearer <token>`
// metadata, verified once per RPC (streams included).
#ifndef TAILGATE_GATEWAY_GRPC_GRPC_AUTH_H_
#define TAILGATE_GATEWAY_GRPC_GRPC_AUTH_H_

#include <optional>
#include <string>

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/auth/token_extraction.h"
#include "gateway/auth/verifier.h"

namespace tailgate {

// The grants of the call's token, else UNAUTHENTICATED with a one-line reason
// that never contains the token.
inline absl::StatusOr<Grants> AuthenticateGrpc(const JwtVerifier& verifier,
                                               const grpc::ServerContextBase& context) {
  absl::StatusOr<std::optional<std::string>> token = ExtractGrpcToken(context.client_metadata());
  if (!token.ok()) return token.status();
  if (!token->has_value()) {
    return absl::UnauthenticatedError(
        "a token is required: send call metadata 'authorization: Bearer <token>'");
  }
  return verifier.Verify(**token, absl::Now());
}

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_GRPC_GRPC_AUTH_H_

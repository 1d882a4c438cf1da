// The one mapping from absl::Status (every module boundary) to grpc::Status
// (what a gRPC client sees). Thread-safe, pure.
#ifndef TAILGATE_GATEWAY_GRPC_GRPC_STATUS_H_
#define TAILGATE_GATEWAY_GRPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tailgate {

// Same code, same message. The canonical codes of Abseil and gRPC are the
// same set with the same numbers; anything unknown becomes UNKNOWN.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_GRPC_GRPC_STATUS_H_

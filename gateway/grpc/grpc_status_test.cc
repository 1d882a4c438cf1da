#include "gateway/grpc/grpc_status.h"

#include "gtest/gtest.h"

namespace tailgate {
namespace {

TEST(ToGrpcStatusTest, KeepsCodeAndMessage) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  struct Case {
    absl::Status in;
    grpc::StatusCode code;
  } cases[] = {
      {absl::InvalidArgumentError("topic: bad"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::ResourceExhaustedError("data: big"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::UnavailableError("draining"), grpc::StatusCode::UNAVAILABLE},
      {absl::FailedPreconditionError("x"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::DataLossError("x"), grpc::StatusCode::DATA_LOSS},
      {absl::InternalError("x"), grpc::StatusCode::INTERNAL},
      {absl::DeadlineExceededError("x"), grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::CancelledError("x"), grpc::StatusCode::CANCELLED},
      {absl::UnauthenticatedError("x"), grpc::StatusCode::UNAUTHENTICATED},
      {absl::PermissionDeniedError("x"), grpc::StatusCode::PERMISSION_DENIED},
      {absl::Status(static_cast<absl::StatusCode>(99), "odd"), grpc::StatusCode::UNKNOWN},
  };
  for (const Case& c : cases) {
    grpc::Status out = ToGrpcStatus(c.in);
    EXPECT_EQ(out.error_code(), c.code) << c.in;
    EXPECT_EQ(out.error_message(), std::string(c.in.message()));
  }
}

}  // namespace
}  // namespace tailgate

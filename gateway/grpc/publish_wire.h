// The Publisher's wire handling on the raw callback API (internal to the
// gRPC publisher): requests arrive as bytes and are parsed with twins whose
// `string` fields are `bytes` (proto/tailgate/internal/publish_wire.proto),
// because protobuf's own UTF-8 check would fail the parse with no field
// named, and a failed read on a callback stream looks exactly like a
// half-close; store::ValidateEvent then names the field.
//
// Thread-safety: pure functions over the caller's objects.
#ifndef TAILGATE_GATEWAY_GRPC_PUBLISH_WIRE_H_
#define TAILGATE_GATEWAY_GRPC_PUBLISH_WIRE_H_

#include <utility>

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/serialization_traits.h>
#include <grpcpp/support/byte_buffer.h>

#include "store/event_validation.h"
#include "store/log.h"
#include "tailgate/internal/publish_wire.pb.h"

namespace tailgate::publish_wire {

using Request = ::tailgate::internal::PublishRequestWire;
using Batch = ::tailgate::internal::PublishBatchRequestWire;

// Views of the request's fields, for admission.
inline store::EventFields Fields(const Request& r) {
  return store::EventFields{r.topic(), r.type(), r.data(), r.idempotency_key()};
}

// Moves the request's bytes into the log's input: no copy of the data.
inline store::EventInput ToEventInput(Request&& r) {
  store::EventInput e;
  e.topic = std::move(*r.mutable_topic());
  e.type = std::move(*r.mutable_type());
  e.data = std::move(*r.mutable_data());
  e.idempotency_key = std::move(*r.mutable_idempotency_key());
  return e;
}

// Parses a request received as bytes; consumes `buffer`.
template <typename Message>
bool Parse(grpc::ByteBuffer* buffer, Message* message) {
  return grpc::SerializationTraits<Message>::Deserialize(buffer, message).ok();
}

// Parses a unary call's request and empties gRPC's buffer of it: the parsed
// fields own their bytes, and the wire bytes would otherwise stay alive until
// the call ends (a large batch twice in memory while it waits for its
// commit). gRPC only destroys that buffer after the call; empty is fine.
template <typename Message>
bool ParseAndRelease(const grpc::ByteBuffer* request, Message* message) {
  grpc::ByteBuffer bytes(*request);  // Shares the slices.
  const_cast<grpc::ByteBuffer*>(request)->Clear();
  return Parse(&bytes, message);
}

template <typename Message>
grpc::Status Serialize(const Message& message, grpc::ByteBuffer* out) {
  bool own_buffer = false;
  return grpc::SerializationTraits<Message>::Serialize(message, out, &own_buffer);
}

}  // namespace tailgate::publish_wire

#endif  // TAILGATE_GATEWAY_GRPC_PUBLISH_WIRE_H_

// tailgate.v1.Publisher on the gRPC callback API: Publish, PublishBatch
// (atomic) and PublishStream (bidi, acks in request order), on top of the
// log's group committer.
//
// Every request is validated here first, with messages that name the field
// and the rule ("events[3].topic: topic has an empty token at byte 7 ..."),
// then handed to Log::AppendAsync. The methods are registered "raw" (bytes
// in, bytes out) and requests are parsed with twins whose `string` fields are
// `bytes` (proto/tailgate/internal/publish_wire.proto): protobuf's own UTF-8
// check would otherwise fail the parse with no field named, and a failed read
// on a callback stream looks exactly like a half-close. Reactions never block: an RPC finishes
// from the append's completion callback (committer thread) or from a gRPC
// reaction. Every RPC is finished exactly once, also when it is cancelled or
// its deadline passes; an append that was already handed to the log still
// commits (the client simply does not get the ack).
//
// Lifetime: each RPC's reactor is reference-counted: one reference for gRPC
// (dropped in OnDone) and one per append in flight (dropped by the append
// callback), so a callback that fires after the client went away never
// touches freed memory.
//
// Thread-safety: all methods may be called concurrently. StartDraining may be
// called from any thread.
#ifndef TAILGATE_GATEWAY_PUBLISHER_SERVICE_H_
#define TAILGATE_GATEWAY_PUBLISHER_SERVICE_H_

#include <atomic>
#include <optional>
#include <string_view>
#include <unordered_set>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gateway/auth/verifier.h"
#include "gateway/config.h"
#include "gateway/ops_metrics.h"
#include "gateway/publish_budget.h"
#include "store/log.h"
#include "tailgate/v1/publisher.grpc.pb.h"

namespace tailgate {

// The fields of one tailgate.v1.PublishRequest.
struct PublishFields {
  std::string_view topic;
  std::string_view type;
  std::string_view data;
  std::string_view idempotency_key;
};

// Checks one request against the grammar of store/topic.h. Errors name the
// field: "topic: ..." for a lone request; with a `list` name, the request's
// place in it: list "events", index 3 gives "events[3].topic: ...".
// INVALID_ARGUMENT for a grammar violation (data that is not UTF-8
// included), RESOURCE_EXHAUSTED for data over max_data_bytes.
absl::Status ValidatePublishFields(const PublishFields& request, size_t max_data_bytes,
                                   std::string_view list = "", uint64_t index = 0);

// tailgate.v1.Publisher with every method on the raw callback API.
using PublisherRawCallbackService = v1::Publisher::WithRawCallbackMethod_Publish<
    v1::Publisher::WithRawCallbackMethod_PublishBatch<
        v1::Publisher::WithRawCallbackMethod_PublishStream<v1::Publisher::Service>>>;

class PublisherService final : public PublisherRawCallbackService {
 public:
  // `log` must outlive the service. Destroy the service only after the gRPC
  // server that serves it has shut down (every RPC reached OnDone) and the
  // log is closed (every append callback ran).
  // `verifier` non-null: every RPC needs a token (UNAUTHENTICATED), verified
  // once per RPC, whose publish grants match each event's topic
  // (PERMISSION_DENIED naming the topic and, in a batch or stream, the
  // index). It must outlive the service.
  PublisherService(store::Log* log, const PublishConfig& config,
                   const JwtVerifier* verifier = nullptr);
  ~PublisherService() override;

  PublisherService(const PublisherService&) = delete;
  PublisherService& operator=(const PublisherService&) = delete;

  // From now on new RPCs fail with UNAVAILABLE "server is draining"; open
  // streams stop reading, write the acks of requests already accepted, then
  // finish with UNAVAILABLE (or OK when the client had half-closed).
  // Idempotent.
  void StartDraining();
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  // PublishStream calls started and not yet done (gRPC's OnDone). Every
  // append of a stream is handed to the log before its call is done.
  size_t open_streams() const;
  // Request bytes currently held (--publish_memory_budget).
  size_t budget_used() const { return budget_.used(); }
  // The budget itself: other publish transports (POST /v1/publish) charge
  // the same one.
  PublishBudget& budget() { return budget_; }

  // Counts every request's outcome (tailgate_publish_total). Call before the
  // server starts; `metrics` must outlive the service. Optional.
  void set_metrics(PublishMetrics* metrics) { metrics_ = metrics; }

  // Request: a serialized tailgate.v1.PublishRequest; response: PublishResponse.
  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  // PublishBatchRequest -> PublishBatchResponse.
  grpc::ServerUnaryReactor* PublishBatch(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  // Stream of PublishRequest -> stream of PublishResponse.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PublishStream(
      grpc::CallbackServerContext* context) override;

 private:
  class UnaryCall;
  class StreamCall;

  // No grants when auth is off; UNAUTHENTICATED without a valid token.
  absl::StatusOr<std::optional<Grants>> Authenticate(
      const grpc::CallbackServerContext& context) const;
  bool AddStream(StreamCall* stream);  // False when draining.
  void RemoveStream(StreamCall* stream);

  store::Log* const log_;
  const PublishConfig config_;
  const JwtVerifier* const verifier_;
  PublishMetrics* metrics_ = nullptr;
  // Declared before anything a call reaches through the service: it joins
  // its thread (which resumes waiting streams) last.
  PublishBudget budget_;
  std::atomic<bool> draining_{false};
  mutable absl::Mutex mu_;
  std::unordered_set<StreamCall*> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_PUBLISHER_SERVICE_H_

// tailgate.v1.Publisher on the gRPC callback API: Publish, PublishBatch
// (atomic) and PublishStream (bidi, acks in request order; its reactor is in
// gateway/grpc/publish_stream.h), on top of the log's group committer.
//
// What is admitted is decided by gateway/publish/admission.h, shared with
// POST /v1/publish; this service translates gRPC in (bytes parsed with the
// twins of gateway/grpc/publish_wire.h, metadata tokens, deadlines) and out
// (absl::Status -> grpc::Status, acks), then hands the events to
// Log::AppendAsync. Reactions never block: an RPC finishes from the append's
// completion callback (committer thread) or from a gRPC reaction. Every RPC
// is finished exactly once, also when it is cancelled or its deadline
// passes; an append that was already handed to the log still commits (the
// client simply does not get the ack).
//
// Lifetime: each RPC's reactor is reference-counted: one reference for gRPC
// (dropped in OnDone) and one per append in flight (dropped by the append
// callback), so a callback that fires after the client went away never
// touches freed memory.
//
// Thread-safety: all methods may be called concurrently. StartDraining may be
// called from any thread.
#ifndef TAILGATE_GATEWAY_GRPC_PUBLISHER_SERVICE_H_
#define TAILGATE_GATEWAY_GRPC_PUBLISHER_SERVICE_H_

#include <atomic>
#include <optional>
#include <string_view>
#include <unordered_set>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/auth/verifier.h"
#include "gateway/config.h"
#include "gateway/diag/ops_metrics.h"
#include "gateway/publish/admission.h"
#include "gateway/publish/budget.h"
#include "store/log.h"
#include "tailgate/v1/publisher.grpc.pb.h"

namespace tailgate {

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

  // From now on new calls on every publish transport fail with UNAVAILABLE
  // "server is draining"; open streams stop reading, write the acks of
  // requests already accepted, then finish with UNAVAILABLE (or OK when the
  // client had half-closed). Idempotent.
  void StartDraining();
  bool draining() const { return admission_.draining(); }
  // PublishStream calls started and not yet done (gRPC's OnDone). Every
  // append of a stream is handed to the log before its call is done.
  size_t open_streams() const;
  // Request bytes currently held (--publish_memory_budget).
  size_t budget_used() const { return admission_.budget().used(); }
  // The budget itself, charged by every publish transport.
  PublishBudget& budget() { return admission_.budget(); }
  // The admission every publish transport shares (budget, draining, limits).
  PublishAdmission& admission() { return admission_; }

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
  class StreamCall;  // gateway/grpc/publish_stream.h

  // Step 1 of admission for a call on `context`; `bytes` as in
  // PublishCallFacts.
  absl::StatusOr<PublishCall> Open(const grpc::CallbackServerContext& context,
                                   std::optional<size_t> bytes);
  bool AddStream(StreamCall* stream);  // False when draining.
  void RemoveStream(StreamCall* stream);

  store::Log* const log_;
  const JwtVerifier* const verifier_;
  PublishMetrics* metrics_ = nullptr;
  // Declared before anything a call reaches through the service: its budget
  // joins its thread (which resumes waiting streams) last.
  PublishAdmission admission_;
  mutable absl::Mutex mu_;
  std::unordered_set<StreamCall*> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_GRPC_PUBLISHER_SERVICE_H_

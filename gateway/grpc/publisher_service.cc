#include "gateway/grpc/publisher_service.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/grpc/publish_stream.h"
#include "gateway/grpc/publish_wire.h"
#include "gateway/grpc/grpc_status.h"
#include "gateway/diag/logging.h"
#include "gateway/publish/append_failure.h"
#include "gateway/auth/token_extraction.h"

namespace tailgate {

// ---------------------------------------------------------------------------
// Publish and PublishBatch.
//
// Invariant: exactly one of {the append callback, OnCancel, a rejection}
// calls Finish (finished_ decides), and only that caller touches the response.
class PublisherService::UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(grpc::ByteBuffer* response, bool batch, PublishMetrics* metrics)
      : response_(response), batch_(batch), metrics_(metrics) {}

  // Events the request carries, for the metrics (1 until known).
  void set_events(size_t n) { events_ = n > 0 ? n : 1; }

  // Holds the call's budget charge until the call is destroyed.
  void Hold(BudgetCharge charge) { charge_ = std::move(charge); }

  void Reject(const absl::Status& status) {
    if (!TryFinish()) return;
    Count(static_cast<int>(status.code()));
    if (absl::IsInvalidArgument(status) || absl::IsResourceExhausted(status)) {
      TG_LOG(DEBUG) << (batch_ ? "PublishBatch" : "Publish") << " rejected: " << status.message();
    }
    Finish(ToGrpcStatus(status));
  }

  void Append(store::Log* log, std::vector<store::EventInput> events) {
    Ref();
    log->AppendAsync(std::move(events),
                     [this](absl::StatusOr<std::vector<store::AppendResult>> results) {
                       OnAppended(std::move(results));
                       Unref();
                     });
  }

  void OnCancel() override {
    // The append (if any) still commits; the client just gets no ack.
    if (TryFinish()) {
      Count(grpc::StatusCode::CANCELLED);
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled before the ack"));
    }
  }

  void OnDone() override { Unref(); }

 private:
  ~UnaryCall() override = default;

  bool TryFinish() { return !finished_.exchange(true, std::memory_order_acq_rel); }
  void Count(int code) {
    if (metrics_ != nullptr) metrics_->CountCode(code, events_);
  }
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void OnAppended(absl::StatusOr<std::vector<store::AppendResult>> results) {
    if (!TryFinish()) return;  // Cancelled: the response may be gone.
    if (!results.ok()) {
      LogAppendFailure("publish", results.status());
      Count(static_cast<int>(results.status().code()));
      Finish(ToGrpcStatus(results.status()));
      return;
    }
    if (metrics_ != nullptr) metrics_->CountAppended(*results);
    if (batch_) {
      v1::PublishBatchResponse out;
      out.mutable_results()->Reserve(static_cast<int>(results->size()));
      for (const store::AppendResult& r : *results) {
        v1::PublishResponse* one = out.add_results();
        one->set_id(r.id);
        one->set_duplicate(r.duplicate);
      }
      Finish(publish_wire::Serialize(out, response_));
    } else if (results->size() == 1) {
      v1::PublishResponse out;
      out.set_id((*results)[0].id);
      out.set_duplicate((*results)[0].duplicate);
      Finish(publish_wire::Serialize(out, response_));
    } else {
      Finish(grpc::Status(grpc::StatusCode::INTERNAL, "log returned an unexpected result count"));
    }
  }

  grpc::ByteBuffer* const response_;  // Owned by gRPC; valid until Finish.
  const bool batch_;
  PublishMetrics* const metrics_;  // May be null.
  BudgetCharge charge_;
  size_t events_ = 1;
  std::atomic<bool> finished_{false};
  std::atomic<int> refs_{1};  // gRPC's, dropped in OnDone.
};

absl::StatusOr<PublishCall> PublisherService::Open(const grpc::CallbackServerContext& context,
                                                   std::optional<size_t> bytes) {
  return admission_.Open(PublishCallFacts{
      bytes, context.deadline() <= std::chrono::system_clock::now(), verifier_,
      [&context] { return ExtractGrpcToken(context.client_metadata()); },
      "call metadata 'authorization: Bearer <token>'"});
}

grpc::ServerUnaryReactor* PublisherService::Publish(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response) {
  auto* call = new UnaryCall(response, /*batch=*/false, metrics_);
  absl::StatusOr<PublishCall> admitted = Open(*context, request->Length());
  if (!admitted.ok()) {
    call->Reject(admitted.status());
    return call;
  }
  call->Hold(std::move(admitted->charge));
  publish_wire::Request wire;
  if (!publish_wire::ParseAndRelease(request, &wire)) {
    call->Reject(absl::InvalidArgumentError("request is not a valid tailgate.v1.PublishRequest"));
  } else if (absl::Status s = admission_.CheckEvent(admitted->grants, publish_wire::Fields(wire));
             !s.ok()) {
    call->Reject(s);
  } else {
    std::vector<store::EventInput> events;
    events.push_back(publish_wire::ToEventInput(std::move(wire)));
    call->Append(log_, std::move(events));
  }
  return call;
}

grpc::ServerUnaryReactor* PublisherService::PublishBatch(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* response) {
  auto* call = new UnaryCall(response, /*batch=*/true, metrics_);
  absl::StatusOr<PublishCall> admitted = Open(*context, request->Length());
  if (!admitted.ok()) {
    call->Reject(admitted.status());
    return call;
  }
  call->Hold(std::move(admitted->charge));
  publish_wire::Batch wire;
  if (!publish_wire::ParseAndRelease(request, &wire)) {
    call->Reject(
        absl::InvalidArgumentError("request is not a valid tailgate.v1.PublishBatchRequest"));
    return call;
  }
  const size_t n = static_cast<size_t>(wire.events_size());
  call->set_events(n);
  if (absl::Status s = admission_.CheckBatchSize(n); !s.ok()) {
    call->Reject(s);
    return call;
  }
  // All or none: every event is checked before any is handed to the log, and
  // the log appends the batch atomically.
  for (size_t i = 0; i < n; ++i) {
    absl::Status s = admission_.CheckEvent(
        admitted->grants, publish_wire::Fields(wire.events(static_cast<int>(i))), "events", i);
    if (!s.ok()) {
      call->Reject(s);
      return call;
    }
  }
  std::vector<store::EventInput> events;
  events.reserve(n);
  for (publish_wire::Request& r : *wire.mutable_events()) {
    events.push_back(publish_wire::ToEventInput(std::move(r)));
  }
  call->Append(log_, std::move(events));
  return call;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PublisherService::PublishStream(
    grpc::CallbackServerContext* context) {
  // Deadlines and cancellation arrive as OnCancel.
  auto* call = new StreamCall(this);
  call->Start(context);
  return call;
}

// ---------------------------------------------------------------------------

PublisherService::PublisherService(store::Log* log, const PublishConfig& config,
                                   const JwtVerifier* verifier)
    : log_(log), verifier_(verifier), admission_(config) {}

PublisherService::~PublisherService() = default;

bool PublisherService::AddStream(StreamCall* stream) {
  absl::MutexLock lock(&mu_);
  if (draining()) return false;
  streams_.insert(stream);
  return true;
}

size_t PublisherService::open_streams() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

void PublisherService::RemoveStream(StreamCall* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

void PublisherService::StartDraining() {
  std::vector<StreamCall*> streams;
  {
    // Under mu_, so a stream either registered before (and is drained here)
    // or sees draining in AddStream.
    absl::MutexLock lock(&mu_);
    if (!admission_.StartDraining()) return;
    streams.reserve(streams_.size());
    for (StreamCall* s : streams_) {
      s->Ref();  // Registered streams have not passed OnDone: still alive.
      streams.push_back(s);
    }
  }
  for (StreamCall* s : streams) {
    s->Drain();
    s->Unref();
  }
}

}  // namespace tailgate

// The one admission path of every publish transport: gRPC Publish,
// PublishBatch and PublishStream (gateway/grpc/publisher_service.h) and POST
// /v1/publish (gateway/publish/http_publish.h). What is refused, with which
// status and in which order, is decided here; a transport only turns its
// request into PublishCallFacts and store::EventFields and the resulting
// absl::Status into its own wire form (grpc::Status; HTTP status + JSON).
//
// A call is admitted in two steps, because every transport reads its events
// (protobuf, JSON) in between:
//   1. Open(facts), once per call: draining (UNAVAILABLE), deadline
//      (DEADLINE_EXCEEDED), memory budget (RESOURCE_EXHAUSTED; the only
//      RESOURCE_EXHAUSTED Open returns), authentication (UNAUTHENTICATED).
//   2. CheckBatchSize(n) for a batch, then CheckEvent for each event in
//      order: validation (store::ValidateEvent: INVALID_ARGUMENT or
//      RESOURCE_EXHAUSTED), then authorization against the call's grants
//      (PERMISSION_DENIED). A batch is admitted only when every event is.
// A PublishStream opens once and charges the budget per request itself
// (PublishBudget::ChargeOrWait: it waits instead of being refused).
//
// Thread-safety: thread-safe; StartDraining may race with everything.
// Ownership: the admission owns the budget; the config is copied.
#ifndef TAILGATE_GATEWAY_PUBLISH_ADMISSION_H_
#define TAILGATE_GATEWAY_PUBLISH_ADMISSION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/auth/verifier.h"
#include "gateway/config.h"
#include "gateway/publish/budget.h"
#include "store/event_validation.h"

namespace tailgate {

// What a transport knows about a publish call before reading its events.
struct PublishCallFacts {
  // Bytes to hold on the memory budget for the whole call (until the
  // PublishCall's charge is destroyed); nullopt for a stream, which charges
  // each request as it reads it.
  std::optional<size_t> bytes;
  bool deadline_passed = false;
  // The transport's token verifier; null: this transport needs no token.
  const JwtVerifier* verifier = nullptr;
  // The bearer token the caller sent, read from the transport's carrier
  // (metadata, header); only called when `verifier` is set. nullopt: none
  // sent; an error (UNAUTHENTICATED): a malformed carrier.
  absl::FunctionRef<absl::StatusOr<std::optional<std::string>>()> token;
  // Where this transport's callers put a token, for the missing-token error
  // ("a token is required: send <token_hint>").
  std::string_view token_hint;
};

// An admitted call: its grants (nullopt when no token is needed) and its
// hold on the memory budget. Move-only.
struct PublishCall {
  std::optional<Grants> grants;
  BudgetCharge charge;
};

class PublishAdmission {
 public:
  explicit PublishAdmission(const PublishConfig& config);

  PublishAdmission(const PublishAdmission&) = delete;
  PublishAdmission& operator=(const PublishAdmission&) = delete;

  // From now on Open fails with UNAVAILABLE "server is draining". Returns
  // false when already draining.
  bool StartDraining();
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  const PublishConfig& config() const { return config_; }
  // Shared by every transport: --publish_memory_budget bounds them together.
  PublishBudget& budget() { return budget_; }
  const PublishBudget& budget() const { return budget_; }

  // Step 1 (see the file comment).
  absl::StatusOr<PublishCall> Open(const PublishCallFacts& facts);

  // The number of events of a batch: at least one, at most max_batch_events.
  // Errors name the field "events".
  absl::Status CheckBatchSize(size_t n) const;

  // One event of an opened call. With a `list` name ("events" in a batch,
  // "request" on a stream), errors name the event's place: "events[3].topic:
  // ..." for a bad field, "events[3]: token does not allow ..." for a topic
  // the grants do not cover.
  absl::Status CheckEvent(const std::optional<Grants>& grants, const store::EventFields& event,
                          std::string_view list = "", uint64_t index = 0) const;

  // The UNAVAILABLE status of a call refused because the server is draining.
  static absl::Status DrainingError();

 private:
  const PublishConfig config_;
  std::atomic<bool> draining_{false};
  // Joins its thread (which resumes waiting streams) on destruction: the
  // owner destroys the admission only after every call is done.
  PublishBudget budget_;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_PUBLISH_ADMISSION_H_

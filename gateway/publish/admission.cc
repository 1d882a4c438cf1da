#include "gateway/publish/admission.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/diag/logging.h"
#include "store/absl_view.h"

namespace tailgate {
namespace {

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0).

absl::StatusOr<std::optional<Grants>> Authenticate(const PublishCallFacts& facts) {
  if (facts.verifier == nullptr) return std::optional<Grants>();
  absl::StatusOr<std::optional<std::string>> token = facts.token();
  absl::StatusOr<Grants> grants =
      !token.ok()            ? absl::StatusOr<Grants>(token.status())
      : !token->has_value() ? absl::StatusOr<Grants>(absl::UnauthenticatedError(
                                  absl::StrCat("a token is required: send ", AbslView(facts.token_hint))))
                            : facts.verifier->Verify(**token, absl::Now());
  if (!grants.ok()) {
    TG_LOG(DEBUG) << "publish: " << grants.status().message();
    return grants.status();
  }
  return std::optional<Grants>(*std::move(grants));
}

}  // namespace

PublishAdmission::PublishAdmission(const PublishConfig& config)
    : config_(config), budget_(config.memory_budget_bytes) {}

bool PublishAdmission::StartDraining() {
  return !draining_.exchange(true, std::memory_order_acq_rel);
}

absl::Status PublishAdmission::DrainingError() {
  return absl::UnavailableError("server is draining");
}

absl::StatusOr<PublishCall> PublishAdmission::Open(const PublishCallFacts& facts) {
  if (draining()) return DrainingError();
  if (facts.deadline_passed) {
    return absl::DeadlineExceededError("deadline exceeded before the request was accepted");
  }
  // The budget before the token: a flood of calls is refused without paying
  // for signature checks.
  if (facts.bytes && !budget_.TryCharge(*facts.bytes)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the server holds its whole publish memory budget (--publish_memory_budget=",
                     budget_.limit(), " bytes) in requests not yet acknowledged: retry shortly"));
  }
  BudgetCharge charge(facts.bytes ? &budget_ : nullptr, facts.bytes.value_or(0));
  absl::StatusOr<std::optional<Grants>> grants = Authenticate(facts);
  if (!grants.ok()) return grants.status();
  return PublishCall{*std::move(grants), std::move(charge)};
}

absl::Status PublishAdmission::CheckBatchSize(size_t n) const {
  if (n == 0) return absl::InvalidArgumentError("events: a batch must have at least one event");
  if (n > config_.max_batch_events) {
    return absl::ResourceExhaustedError(absl::StrCat("events: batch has ", n,
                                                     " events; the limit is ",
                                                     config_.max_batch_events));
  }
  return absl::OkStatus();
}

absl::Status PublishAdmission::CheckEvent(const std::optional<Grants>& grants,
                                          const store::EventFields& event, std::string_view list,
                                          uint64_t index) const {
  if (absl::Status s = store::ValidateEvent(event, config_.max_data_bytes, list, index); !s.ok()) {
    return s;
  }
  if (!grants) return absl::OkStatus();
  absl::Status s = AuthorizePublish(*grants, event.topic);
  if (s.ok() || list.empty()) return s;
  return absl::PermissionDeniedError(absl::StrCat(AbslView(list), "[", index, "]: ", s.message()));
}

}  // namespace tailgate

// PublishAdmission alone: the order of the call-level refusals every publish
// transport shares (draining, deadline, budget, token), the budget held by
// an admitted call, the batch size and the per-event naming.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/auth/verifier.h"
#include "gateway/config.h"
#include "gateway/publish/admission.h"
#include "gtest/gtest.h"
#include "tests/testing/jwt_testing.h"

namespace tailgate {
namespace {

using ::tailgate::testing::kHs256Header;
using ::tailgate::testing::SignHs256;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";  // HS256, 32 bytes

PublishConfig Limits() {
  PublishConfig c;
  c.memory_budget_bytes = 100;
  c.max_batch_events = 3;
  c.max_data_bytes = 10;
  return c;
}

std::unique_ptr<JwtVerifier> Verifier() {
  AuthConfig a;
  a.publish_required = true;
  a.algorithms = {"HS256"};
  a.hs256_secret = kSecret;
  absl::StatusOr<std::unique_ptr<JwtVerifier>> v = JwtVerifier::Create(a);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : nullptr;
}

std::string Token(const std::string& publish_grants) {
  return SignHs256(kHs256Header,
                   absl::StrCat(R"({"sub":"svc","exp":)", absl::ToUnixSeconds(absl::Now()) + 3600,
                                R"(,"tailgate":{"publish":)", publish_grants, "}}"),
                   kSecret);
}

using TokenResult = absl::StatusOr<std::optional<std::string>>;

TEST(PublishAdmissionTest, CallRefusalsComeInOneOrder) {
  PublishAdmission admission(Limits());
  std::unique_ptr<JwtVerifier> verifier = Verifier();
  ASSERT_NE(verifier, nullptr);
  auto no_token = [] { return TokenResult(std::optional<std::string>()); };
  // Fill the budget, so that every check below fails at once.
  absl::StatusOr<PublishCall> holder =
      admission.Open({100, false, nullptr, no_token, "a header"});
  ASSERT_TRUE(holder.ok()) << holder.status();

  const PublishCallFacts all_bad{1, /*deadline_passed=*/true, verifier.get(), no_token,
                                 "a header"};
  admission.StartDraining();
  EXPECT_EQ(admission.Open(all_bad).status(), absl::UnavailableError("server is draining"));
  PublishAdmission open(Limits());
  absl::StatusOr<PublishCall> full = open.Open({100, false, nullptr, no_token, ""});
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(open.Open(all_bad).status().code(), absl::StatusCode::kDeadlineExceeded);
  PublishCallFacts budget_and_token = all_bad;
  budget_and_token.deadline_passed = false;
  EXPECT_EQ(open.Open(budget_and_token).status().code(), absl::StatusCode::kResourceExhausted);
  budget_and_token.bytes = std::nullopt;  // A stream charges per request.
  EXPECT_EQ(open.Open(budget_and_token).status(),
            absl::UnauthenticatedError("a token is required: send a header"));
}

TEST(PublishAdmissionTest, AnAdmittedCallHoldsItsBytesUntilDestroyed) {
  PublishAdmission admission(Limits());
  auto none = [] { return TokenResult(std::optional<std::string>()); };
  {
    absl::StatusOr<PublishCall> call = admission.Open({60, false, nullptr, none, ""});
    ASSERT_TRUE(call.ok());
    EXPECT_FALSE(call->grants.has_value());
    EXPECT_EQ(admission.budget().used(), 60u);
    EXPECT_EQ(admission.Open({60, false, nullptr, none, ""}).status().code(),
              absl::StatusCode::kResourceExhausted);
    BudgetCharge moved = std::move(call->charge);
    EXPECT_EQ(admission.budget().used(), 60u);
  }
  EXPECT_EQ(admission.budget().used(), 0u);
}

TEST(PublishAdmissionTest, RefusedTokenReleasesTheBudget) {
  PublishAdmission admission(Limits());
  std::unique_ptr<JwtVerifier> verifier = Verifier();
  ASSERT_NE(verifier, nullptr);
  auto malformed = [] { return TokenResult(absl::UnauthenticatedError("bad header")); };
  EXPECT_EQ(admission.Open({50, false, verifier.get(), malformed, ""}).status(),
            absl::UnauthenticatedError("bad header"));
  EXPECT_EQ(admission.budget().used(), 0u);
}

TEST(PublishAdmissionTest, EventsAreValidatedThenAuthorizedAndNamedByPlace) {
  PublishAdmission admission(Limits());
  std::unique_ptr<JwtVerifier> verifier = Verifier();
  ASSERT_NE(verifier, nullptr);
  const std::string token = Token(R"(["orders.*"])");
  auto sent = [&] { return TokenResult(std::optional<std::string>(token)); };
  absl::StatusOr<PublishCall> call = admission.Open({1, false, verifier.get(), sent, ""});
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_TRUE(call->grants.has_value());

  EXPECT_TRUE(admission.CheckEvent(call->grants, {"orders.1", "", "x", ""}).ok());
  // A bad field is reported before a topic the grants do not cover.
  EXPECT_EQ(admission.CheckEvent(call->grants, {"users.1", "", "x", "a b"}, "events", 2).code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status denied = admission.CheckEvent(call->grants, {"users.1", "", "x", ""});
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(admission.CheckEvent(call->grants, {"users.1", "", "x", ""}, "request", 4),
            absl::PermissionDeniedError(absl::StrCat("request[4]: ", denied.message())));
  EXPECT_EQ(admission.CheckEvent(std::nullopt, {"users.1", "", "x", ""}), absl::OkStatus());
}

TEST(PublishAdmissionTest, BatchSize) {
  PublishAdmission admission(Limits());
  EXPECT_EQ(admission.CheckBatchSize(0),
            absl::InvalidArgumentError("events: a batch must have at least one event"));
  EXPECT_TRUE(admission.CheckBatchSize(3).ok());
  EXPECT_EQ(admission.CheckBatchSize(4),
            absl::ResourceExhaustedError("events: batch has 4 events; the limit is 3"));
}

}  // namespace
}  // namespace tailgate

// The one acceptance rule of every subscription transport (SSE and gRPC):
// authentication first, then topics, the resume point (every field present
// valid, in precedence order, the first present wins), the transport's own
// fields, and authorization last.
#include "gateway/core/subscription_request.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace tailgate {
namespace {

std::string TopicsField(size_t i, std::string_view) { return absl::StrCat("topics[", i, "]"); }

SubscriptionRequest Request(std::vector<std::string_view> topics) {
  SubscriptionRequest r;
  r.topics = std::move(topics);
  r.topics_field = "topics";
  r.no_topics_message = "topics: at least one pattern is required";
  r.pattern_field = TopicsField;
  r.max_topics = 2;
  return r;
}

Grants OrdersGrants() {
  Grants g;
  g.subscribe.push_back(*store::TopicPattern::Parse("orders.>"));
  g.subject = "svc";
  g.valid_until = absl::FromUnixSeconds(2'000'000'000);
  return g;
}

using Kind = ResumeField::Kind;

TEST(SubscriptionRequestTest, NoResumeFieldIsLive) {
  absl::StatusOr<AcceptedSubscription> s = AcceptSubscription(Request({"a"}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->resume.kind, ResumeSpec::Kind::kLive);
  EXPECT_EQ(s->valid_until, absl::InfiniteFuture());
  EXPECT_EQ(s->subject, "");
}

TEST(SubscriptionRequestTest, TopicsAreCountedAndNamedInTheTransportsWords) {
  EXPECT_EQ(AcceptSubscription(Request({})).status().message(),
            "topics: at least one pattern is required");
  EXPECT_EQ(AcceptSubscription(Request({"a", "b", "c"})).status().message(),
            "topics: at most 2 patterns per subscription, got 3");
  absl::Status bad = AcceptSubscription(Request({"ok", "bad..x"})).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message().rfind("topics[1]:", 0), 0u) << bad.message();
}

TEST(SubscriptionRequestTest, TheFirstResumeFieldPresentWins) {
  SubscriptionRequest r = Request({"a"});
  r.resume = {{Kind::kAfterId, "after_id", "7"},
              {Kind::kSince, "since", "earliest"},
              {Kind::kLast, "last", "3"}};
  absl::StatusOr<AcceptedSubscription> s = AcceptSubscription(r);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->resume.kind, ResumeSpec::Kind::kAfterId);
  EXPECT_EQ(s->resume.after_id, 7u);

  r.resume.erase(r.resume.begin());
  EXPECT_EQ(AcceptSubscription(r)->resume.kind, ResumeSpec::Kind::kEarliest);
  r.resume.erase(r.resume.begin());
  EXPECT_EQ(AcceptSubscription(r)->resume.last, 3u);
}

TEST(SubscriptionRequestTest, EveryResumeFieldPresentMustBeValidCheckedInPrecedenceOrder) {
  // A lower-precedence field is ignored for the start but still checked.
  SubscriptionRequest r = Request({"a"});
  r.resume = {{Kind::kAfterId, "after_id", "7"}, {Kind::kSince, "since", "soon"}};
  absl::Status s = AcceptSubscription(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("since:", 0), 0u) << s.message();
  // Two bad fields: the higher-precedence one is named (SSE and gRPC alike).
  r.resume = {{Kind::kSince, "since", "soon"}, {Kind::kLast, "last", "0"}};
  EXPECT_EQ(AcceptSubscription(r).status().message().rfind("since:", 0), 0u);
  r.resume = {{Kind::kAfterId, "Last-Event-ID header", "x"}};
  EXPECT_EQ(AcceptSubscription(r).status().message().rfind("Last-Event-ID header:", 0), 0u);
}

TEST(SubscriptionRequestTest, AuthenticationIsCheckedFirst) {
  SubscriptionRequest r = Request({});  // Invalid too: not reported.
  r.authentication = absl::StatusOr<Grants>(absl::UnauthenticatedError("a token is required"));
  EXPECT_EQ(AcceptSubscription(r).status(), absl::UnauthenticatedError("a token is required"));
}

TEST(SubscriptionRequestTest, AuthorizationComesLastAfterEveryOtherCheck) {
  SubscriptionRequest r = Request({"users.1"});
  r.authentication = OrdersGrants();
  r.resume = {{Kind::kSince, "since", "soon"}};
  EXPECT_EQ(AcceptSubscription(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.resume.clear();
  r.transport_fields = absl::InvalidArgumentError("live: want 1 or 0, got \"2\"");
  EXPECT_EQ(AcceptSubscription(r).status(), r.transport_fields);
  r.transport_fields = absl::OkStatus();
  absl::Status denied = AcceptSubscription(r).status();
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(), "token does not allow subscribing to \"users.1\"");
}

TEST(SubscriptionRequestTest, AGrantedSubscriptionCarriesTheTokensSubjectAndDeadline) {
  SubscriptionRequest r = Request({"orders.eu", "orders.>"});
  r.authentication = OrdersGrants();
  absl::StatusOr<AcceptedSubscription> s = AcceptSubscription(r);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->subject, "svc");
  EXPECT_EQ(s->valid_until, absl::FromUnixSeconds(2'000'000'000));
  ASSERT_EQ(s->patterns.size(), 2u);
  EXPECT_EQ(s->patterns[1].str(), "orders.>");
}

}  // namespace
}  // namespace tailgate

#include "gateway/auth/grants.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/pattern_oracle.h"

namespace tailgate {
namespace {

store::TopicPattern P(const std::string& s) {
  absl::StatusOr<store::TopicPattern> p = store::TopicPattern::Parse(s);
  EXPECT_TRUE(p.ok()) << s << ": " << p.status();
  return *p;
}

std::vector<store::TopicPattern> Ps(const std::vector<std::string>& v) {
  std::vector<store::TopicPattern> out;
  for (const auto& s : v) out.push_back(P(s));
  return out;
}

bool Covers(const std::vector<std::string>& granted, const std::string& requested) {
  const bool got = PatternsCover(Ps(granted), P(requested));
  // Every case here is also checked against the brute-force oracle.
  EXPECT_EQ(got, testing::BruteForceCovers(Ps(granted), P(requested)))
      << "oracle disagrees for " << requested;
  return got;
}

TEST(PatternsCoverTest, PatternOutsideTheClaimsIsRefused) {
  EXPECT_FALSE(Covers({"orders.>"}, "orders"));  // '>' needs at least one token
  EXPECT_FALSE(Covers({"orders.>"}, "users.1"));
  EXPECT_FALSE(Covers({"orders.>"}, "ordersx.1"));
  EXPECT_TRUE(Covers({"orders.>"}, "orders.eu"));
  EXPECT_TRUE(Covers({"orders.>"}, "orders.eu.42"));
}

TEST(PatternsCoverTest, WildcardEscalationIsRefused) {
  EXPECT_FALSE(Covers({"orders.*"}, ">"));
  EXPECT_FALSE(Covers({"orders.*"}, "*"));
  EXPECT_FALSE(Covers({"orders.*"}, "orders.>"));
  EXPECT_FALSE(Covers({"orders.*"}, "*.*"));
  EXPECT_FALSE(Covers({"orders.*"}, "orders.*.*"));
  EXPECT_FALSE(Covers({"orders.eu"}, "orders.*"));
  EXPECT_FALSE(Covers({"orders.*.x"}, "orders.*.*"));
  EXPECT_FALSE(Covers({"orders.>"}, ">"));
  EXPECT_FALSE(Covers({"*.eu"}, "*.>"));
  EXPECT_TRUE(Covers({"orders.*"}, "orders.*"));
  EXPECT_TRUE(Covers({"orders.*"}, "orders.42"));
}

TEST(PatternsCoverTest, WiderGrantsCoverNarrowerPatterns) {
  EXPECT_TRUE(Covers({"orders.>"}, "orders.*"));
  EXPECT_TRUE(Covers({"orders.>"}, "orders.eu.>"));
  EXPECT_TRUE(Covers({"orders.>"}, "orders.*.x"));
  EXPECT_TRUE(Covers({"orders.>"}, "orders.>"));
  EXPECT_TRUE(Covers({">"}, "*"));
  EXPECT_TRUE(Covers({">"}, "a.>"));
  EXPECT_TRUE(Covers({"*.>"}, "a.*.>"));
  EXPECT_TRUE(Covers({"*.*"}, "a.b"));
  EXPECT_FALSE(Covers({"*.>"}, "a"));
  EXPECT_FALSE(Covers({}, "a"));
}

TEST(PatternsCoverTest, UnionOfGrantsCounts) {
  EXPECT_TRUE(Covers({"a.*", "a.*.>"}, "a.>"));
  EXPECT_TRUE(Covers({"a.*", "a.*.*", "a.*.*.>"}, "a.>"));
  EXPECT_FALSE(Covers({"a.*", "a.*.*.>"}, "a.>"));  // two-token topics missing
  EXPECT_FALSE(Covers({"a.x", "a.y"}, "a.*"));
  EXPECT_TRUE(Covers({"a.x", "b.>"}, "a.x"));
}

// Exhaustive cross-check against the oracle: every pattern of up to three
// tokens over {a, b, *} with an optional final '>', as the request and as
// one or two grants.
TEST(PatternsCoverTest, AgreesWithBruteForceOnAllSmallPatterns) {
  std::vector<std::string> all;
  const std::vector<std::string> alphabet = {"a", "b", "*"};
  std::vector<std::string> prefixes = {""};
  for (int len = 1; len <= 3; ++len) {
    std::vector<std::string> next;
    for (const auto& p : prefixes) {
      for (const auto& t : alphabet) next.push_back(p.empty() ? t : p + "." + t);
    }
    for (const auto& p : next) all.push_back(p);
    prefixes = next;
  }
  const size_t plain = all.size();
  all.push_back(">");
  for (size_t i = 0; i < plain; ++i) {
    if (all[i].size() < 5) all.push_back(all[i] + ".>");
  }
  const std::vector<store::TopicPattern> parsed = Ps(all);
  int disagreements = 0;
  for (const auto& r : parsed) {
    for (size_t i = 0; i < parsed.size(); ++i) {
      for (size_t j = i; j < parsed.size(); j += 7) {  // all singles, a spread of pairs
        std::vector<store::TopicPattern> grants = {parsed[i]};
        if (j != i) grants.push_back(parsed[j]);
        if (PatternsCover(grants, r) != testing::BruteForceCovers(grants, r)) {
          if (++disagreements < 10) {
            ADD_FAILURE() << "request " << r.str() << " grants " << grants[0].str()
                          << (grants.size() > 1 ? " " + grants[1].str() : "");
          }
        }
      }
    }
  }
  EXPECT_EQ(disagreements, 0);
}

TEST(AuthorizeTest, MessagesNameTheTopic) {
  Grants g;
  g.subscribe = Ps({"orders.>"});
  g.publish = Ps({"orders.*"});
  EXPECT_TRUE(AuthorizeSubscribe(g, Ps({"orders.eu", "orders.*"})).ok());
  absl::Status s = AuthorizeSubscribe(g, Ps({"orders.eu", "users.1"}));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "token does not allow subscribing to \"users.1\"");
  EXPECT_TRUE(AuthorizePublish(g, "orders.1").ok());
  s = AuthorizePublish(g, "orders.1.2");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "token does not allow publishing to \"orders.1.2\"");
}

// ---------------------------------------------------------------------------
// Token extraction.

TEST(TokenTimeLeftTest, ClampsToZeroAndACentury) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  EXPECT_EQ(TokenTimeLeft(now + absl::Seconds(90), now), absl::Seconds(90));
  EXPECT_EQ(TokenTimeLeft(now - absl::Seconds(1), now), absl::ZeroDuration());
  EXPECT_EQ(TokenTimeLeft(absl::FromUnixSeconds(int64_t{1} << 40), now), absl::Hours(24 * 36525));
}

}  // namespace
}  // namespace tailgate

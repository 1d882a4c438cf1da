#include "store/internal/retention.h"

#include "gtest/gtest.h"

namespace tailgate::store::internal {
namespace {

// A clock the test moves by hand.
struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  Clock AsClock() {
    return [this] { return now; };
  }
};

Options RulesOptions() {
  Options o;
  o.default_retention = RetentionRule{">", 1000, absl::Hours(24)};
  o.retention_rules = {RetentionRule{"fast.>", 10, absl::Minutes(5)},
                       RetentionRule{"keep.>", 0, absl::ZeroDuration()}};
  return o;
}

RetentionRules Parse(const Options& o) {
  absl::StatusOr<RetentionRules> rules = RetentionRules::Parse(o);
  EXPECT_TRUE(rules.ok()) << rules.status();
  return rules.ok() ? *rules : RetentionRules();
}

TEST(RetentionRulesTest, FirstMatchingRuleWinsElseDefault) {
  RetentionRules rules = Parse(RulesOptions());
  EXPECT_EQ(rules.For("fast.a").max_events, 10u);
  EXPECT_EQ(rules.For("keep.a").max_events, 0u);
  EXPECT_EQ(rules.For("other").max_events, 1000u);
  EXPECT_EQ(rules.ShortestMaxAge(), absl::Minutes(5));
}

TEST(RetentionRulesTest, MalformedPatternNamesTheField) {
  Options o = RulesOptions();
  o.retention_rules[1].pattern = "a..b";
  absl::StatusOr<RetentionRules> rules = RetentionRules::Parse(o);
  ASSERT_FALSE(rules.ok());
  EXPECT_NE(rules.status().message().find("retention_rules[1].pattern"), absl::string_view::npos)
      << rules.status();
}

TEST(RetentionPlannerTest, LoosestLimitsAreWhatNoRuleStillKeeps) {
  // "keep.>" limits nothing, so the storage may limit nothing by itself.
  EXPECT_EQ(LoosestLimits(Parse(RulesOptions())).max_events, 0u);
  EXPECT_EQ(LoosestLimits(Parse(RulesOptions())).max_age, absl::ZeroDuration());
  Options o = RulesOptions();
  o.retention_rules.pop_back();
  const StorageLimits loosest = LoosestLimits(Parse(o));
  EXPECT_EQ(loosest.max_events, 1000u);
  EXPECT_EQ(loosest.max_age, absl::Hours(24));
}

TEST(RetentionPlannerTest, CutsThePrefixOverTheCountOrPastTheAge) {
  FakeClock clock;
  RetentionPlanner planner(Parse(RulesOptions()), clock.AsClock());
  const TopicCut cut = planner.Plan("fast.a", 15, planner.Now());
  EXPECT_EQ(cut.over, 5u);
  EXPECT_EQ(cut.older_than, clock.now - absl::Minutes(5));
  EXPECT_TRUE(cut.Removes(4, clock.now));                         // over the count
  EXPECT_TRUE(cut.Removes(7, clock.now - absl::Minutes(6)));      // past the age
  EXPECT_FALSE(cut.Removes(5, clock.now - absl::Minutes(4)));     // neither
  EXPECT_TRUE(planner.Plan("keep.a", 1'000'000, planner.Now()).empty());
}

// The JetStream log's retention pass, as it plans it: the stream enforces
// the loosest limits by itself, the planner only what is stricter, by the
// injected clock.
TEST(RetentionPlannerTest, JetStreamStylePlanFollowsTheInjectedClock) {
  FakeClock clock;
  Options o = RulesOptions();
  o.retention_rules.pop_back();  // the stream then limits to 1000 events, 24 h
  RetentionRules rules = Parse(o);
  const StorageLimits stream = LoosestLimits(rules);
  RetentionPlanner planner(std::move(rules), clock.AsClock(), stream);

  // The default rule is the stream's own: nothing left for the pass.
  EXPECT_TRUE(planner.Plan("other", 5000, planner.Now()).empty());

  // "fast.>" is stricter: cut by count now, and by age relative to the
  // fake clock, wherever it is moved.
  TopicCut cut = planner.Plan("fast.a", 12, planner.Now());
  EXPECT_EQ(cut.over, 2u);
  EXPECT_EQ(cut.older_than, absl::FromUnixSeconds(1'700'000'000) - absl::Minutes(5));
  const absl::Time stored = clock.now;  // an event stored "now"
  EXPECT_FALSE(cut.Removes(3, stored));

  clock.now += absl::Minutes(6);
  cut = planner.Plan("fast.a", 3, planner.Now());
  EXPECT_EQ(cut.over, 0u);
  EXPECT_TRUE(cut.Removes(0, stored)) << "the event is past its 5 minutes on the fake clock";
}

TEST(RetentionPlannerTest, ExcessBytes) {
  EXPECT_EQ(RetentionPlanner::ExcessBytes(100, 0), 0u);
  EXPECT_EQ(RetentionPlanner::ExcessBytes(100, 100), 0u);
  EXPECT_EQ(RetentionPlanner::ExcessBytes(150, 100), 50u);
}

}  // namespace
}  // namespace tailgate::store::internal

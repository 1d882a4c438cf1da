#include "gateway/server/retention_spec.h"

#include <gtest/gtest.h>

namespace tailgate {
namespace {

TEST(RetentionSpecTest, AgesAcceptDaysAndAbslUnits) {
  EXPECT_EQ(*ParseRetentionAge("7d"), absl::Hours(24 * 7));
  EXPECT_EQ(*ParseRetentionAge("1d12h"), absl::Hours(36));
  EXPECT_EQ(*ParseRetentionAge("12h"), absl::Hours(12));
  EXPECT_EQ(*ParseRetentionAge("90s"), absl::Seconds(90));
  EXPECT_EQ(*ParseRetentionAge("0"), absl::ZeroDuration());
  for (const char* bad : {"", "d", "7", "-1h", "7x", "1.5d", "inf", "7dd"}) {
    EXPECT_FALSE(ParseRetentionAge(bad).ok()) << bad;
  }
}

TEST(RetentionSpecTest, RulesParsePatternsAgesAndCounts) {
  absl::StatusOr<std::vector<store::RetentionRule>> rules =
      ParseRetentionRules("orders.>=7d, metrics.*=1000,audit.>=30d:5000000,a:b.c=1000:12h");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_EQ(rules->size(), 4u);
  EXPECT_EQ((*rules)[0].pattern, "orders.>");
  EXPECT_EQ((*rules)[0].max_age, absl::Hours(24 * 7));
  EXPECT_EQ((*rules)[0].max_events, 0u);
  EXPECT_EQ((*rules)[1].pattern, "metrics.*");
  EXPECT_EQ((*rules)[1].max_events, 1000u);
  EXPECT_EQ((*rules)[1].max_age, absl::ZeroDuration());
  EXPECT_EQ((*rules)[2].max_age, absl::Hours(24 * 30));
  EXPECT_EQ((*rules)[2].max_events, 5000000u);
  EXPECT_EQ((*rules)[3].pattern, "a:b.c");
  EXPECT_EQ((*rules)[3].max_events, 1000u);
  EXPECT_EQ((*rules)[3].max_age, absl::Hours(12));
  EXPECT_TRUE(ParseRetentionRules("")->empty());
}

TEST(RetentionSpecTest, BadRulesNameTheEntry) {
  for (const char* bad : {"orders.>", "orders.>=", "a..b=7d", "orders.>=7d:8d", "x=1:2",
                          "x=soon", ">.a=1"}) {
    absl::StatusOr<std::vector<store::RetentionRule>> rules = ParseRetentionRules(bad);
    EXPECT_FALSE(rules.ok()) << bad;
    EXPECT_NE(rules.status().message().find("'"), std::string::npos) << rules.status();
  }
}

}  // namespace
}  // namespace tailgate

#include "gateway/diag/logging.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tailgate {
namespace {

TEST(LogThrottleTest, AdmitsOneLinePerPeriodAndCountsTheRest) {
  LogThrottle throttle(absl::Milliseconds(50));
  uint64_t held = 99;
  ASSERT_TRUE(throttle.Admit(&held));  // The first line always goes out.
  EXPECT_EQ(held, 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(throttle.Admit(&held));
  absl::SleepFor(absl::Milliseconds(60));
  ASSERT_TRUE(throttle.Admit(&held));
  EXPECT_EQ(held, 5u);
  EXPECT_FALSE(throttle.Admit(&held));
}

TEST(LogThrottleTest, OneAdmittedPerPeriodAcrossThreads) {
  LogThrottle throttle(absl::Hours(1));
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        uint64_t held = 0;
        if (throttle.Admit(&held)) admitted.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 1);
}

TEST(LogThrottleTest, EveryCallIsEitherAdmittedOrCountedOnce) {
  LogThrottle throttle(absl::Milliseconds(5));
  std::atomic<uint64_t> admitted{0}, reported_held{0};
  constexpr int kThreads = 4, kCalls = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        uint64_t held = 0;
        if (throttle.Admit(&held)) {
          admitted.fetch_add(1);
          reported_held.fetch_add(held);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::SleepFor(absl::Milliseconds(10));
  uint64_t held = 0;
  ASSERT_TRUE(throttle.Admit(&held));  // Reports whatever was held last.
  EXPECT_EQ(admitted.load() + reported_held.load() + held, uint64_t{kThreads} * kCalls);
}

TEST(LogThrottleTest, HeldText) {
  EXPECT_EQ(Held(0), "");
  EXPECT_EQ(Held(3), " (3 more like this since the last report)");
}

}  // namespace
}  // namespace tailgate

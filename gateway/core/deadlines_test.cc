#include "gateway/core/deadlines.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

namespace tailgate {
namespace {

namespace net = boost::asio;
using Clock = Deadline::Clock;
using std::chrono::milliseconds;

// What fired, in order, and when.
struct Log {
  std::mutex mu;
  std::vector<int> order;
  std::vector<Clock::time_point> fired_at;
};

struct Owner {
  Owner(const net::any_io_executor& ex, Log* log, int tag)
      : deadline(ex, &Owner::Fire), log(log), tag(tag) {}
  static void Fire(std::shared_ptr<void> p) {
    auto* self = static_cast<Owner*>(p.get());
    std::lock_guard<std::mutex> lock(self->log->mu);
    self->log->order.push_back(self->tag);
    self->log->fired_at.push_back(Clock::now());
    self->fired_after_at = Clock::now() >= self->at;
  }
  void Arm(Clock::time_point t, const std::shared_ptr<Owner>& self) {
    at = t;
    deadline.Arm(t, self);
  }
  Deadline deadline;
  Log* log;
  int tag;
  Clock::time_point at{};
  bool fired_after_at = false;
};

TEST(DeadlinesTest, FireInTimeOrderAndNeverEarly) {
  net::io_context io;
  Log log;
  const auto t0 = Clock::now();
  std::vector<std::shared_ptr<Owner>> owners;
  for (int i : {3, 1, 2}) {
    owners.push_back(std::make_shared<Owner>(io.get_executor(), &log, i));
    owners.back()->Arm(t0 + milliseconds(10 * i), owners.back());
  }
  io.run();  // Returns once nothing is pending.
  EXPECT_EQ(log.order, (std::vector<int>{1, 2, 3}));
  for (const auto& o : owners) EXPECT_TRUE(o->fired_after_at) << o->tag;
  EXPECT_EQ(net::use_service<Deadlines>(io).pending(), 0u);
}

TEST(DeadlinesTest, RearmMovesTheDeadlineBothWays) {
  net::io_context io;
  Log log;
  const auto t0 = Clock::now();
  auto later = std::make_shared<Owner>(io.get_executor(), &log, 1);
  auto earlier = std::make_shared<Owner>(io.get_executor(), &log, 2);
  later->Arm(t0 + milliseconds(5), later);
  earlier->Arm(t0 + std::chrono::seconds(30), earlier);
  later->Arm(t0 + milliseconds(60), later);     // Pushed back: not at 5 ms.
  earlier->Arm(t0 + milliseconds(20), earlier);  // Brought forward.
  io.run();
  EXPECT_EQ(log.order, (std::vector<int>{2, 1}));
  EXPECT_TRUE(later->fired_after_at);
  EXPECT_GE(log.fired_at[1] - t0, milliseconds(60));
  EXPECT_LT(log.fired_at[0] - t0, std::chrono::seconds(30));
}

TEST(DeadlinesTest, CancelledAndDestroyedOwnersDoNotFire) {
  net::io_context io;
  Log log;
  const auto t0 = Clock::now();
  auto cancelled = std::make_shared<Owner>(io.get_executor(), &log, 1);
  auto kept = std::make_shared<Owner>(io.get_executor(), &log, 2);
  auto destroyed = std::make_shared<Owner>(io.get_executor(), &log, 3);
  cancelled->Arm(t0 + milliseconds(5), cancelled);
  kept->Arm(t0 + milliseconds(10), kept);
  destroyed->Arm(t0 + milliseconds(1), destroyed);
  cancelled->deadline.Cancel();
  destroyed.reset();  // ~Deadline takes it out of the heap.
  EXPECT_EQ(net::use_service<Deadlines>(io).pending(), 1u);
  io.run();
  EXPECT_EQ(log.order, (std::vector<int>{2}));
}

TEST(DeadlinesTest, NothingPendingLeavesTheContextIdle) {
  net::io_context io;
  Log log;
  auto o = std::make_shared<Owner>(io.get_executor(), &log, 1);
  o->Arm(Clock::now() + std::chrono::hours(1), o);
  o->deadline.Cancel();
  // run() returns at once: the shared timer's wait was cancelled with the
  // last deadline (a pending wait would keep the context running an hour).
  const auto start = Clock::now();
  io.run();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(log.order.empty());
}

// Two threads run the pool: the heap under concurrent expiry, re-arming and
// cancelling (the order of hooks across threads is not defined).
TEST(DeadlinesTest, ManyDeadlinesOnAThreadPoolAllFireNoneEarly) {
  net::thread_pool pool(2);
  Log log;
  std::mt19937 rng(7);
  const auto t0 = Clock::now();
  std::vector<std::shared_ptr<Owner>> owners;
  std::vector<std::pair<Clock::time_point, int>> expected;
  for (int i = 0; i < 5000; ++i) {
    owners.push_back(std::make_shared<Owner>(pool.get_executor(), &log, i));
    const auto at = t0 + std::chrono::microseconds(rng() % 200000);
    if (i % 2 == 1) {  // Brought forward from an hour away: fires.
      owners.back()->Arm(t0 + std::chrono::hours(1), owners.back());
      owners.back()->Arm(at, owners.back());
      expected.emplace_back(at, i);
    } else {  // Pushed back an hour, then cancelled: never fires.
      owners.back()->Arm(at + std::chrono::seconds(30), owners.back());
      owners.back()->Arm(t0 + std::chrono::hours(1), owners.back());
    }
  }
  for (int i = 0; i < 5000; i += 2) owners[i]->deadline.Cancel();
  pool.join();
  const auto& kept = expected;
  ASSERT_EQ(log.order.size(), kept.size());
  std::vector<int> fired = log.order;
  std::sort(fired.begin(), fired.end());
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(fired[i], kept[i].second);
  for (const auto& o : owners) {
    if (o->tag % 2 == 1) {
      EXPECT_TRUE(o->fired_after_at) << o->tag;
    }
  }
}

}  // namespace
}  // namespace tailgate

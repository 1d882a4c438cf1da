// RevocationList (matching, persistence, expiry) and StreamRegistry
// (listing, counting, ending, the register/revoke race rule).
#include "gateway/core/presence.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/auth/revocations.h"

namespace tailgate {
namespace {

store::TopicPattern P(const std::string& s) { return *store::TopicPattern::Parse(s, "p"); }

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name + "." + std::to_string(::getpid());
}

Revocation Subject(const std::string& s, absl::Time until) {
  return Revocation{Revocation::Kind::kSubject, s, until, absl::InfinitePast()};
}
Revocation Pattern(const std::string& s, absl::Time until) {
  return Revocation{Revocation::Kind::kPattern, s, until, absl::InfinitePast()};
}

TEST(RevocationListTest, SubjectsAndPatternsUntilTheirTime) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto list = *RevocationList::Open("", now);
  ASSERT_TRUE(list->Add(Subject("alice", now + absl::Minutes(5)), now).ok());
  ASSERT_TRUE(list->Add(Pattern("orders.>", now + absl::Minutes(5)), now).ok());
  absl::Status s = list->CheckSubject("alice", now);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(s.message(), "token subject alice is revoked until 2027-01-15T08:05:00Z");
  EXPECT_TRUE(list->CheckSubject("bob", now).ok());
  EXPECT_TRUE(list->CheckSubject("", now).ok());
  EXPECT_TRUE(list->CheckSubject("alice", now + absl::Minutes(5)).ok());  // Until is exclusive.

  EXPECT_EQ(list->CheckPatterns({P("orders.eu")}, now).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(list->CheckPatterns({P("users.1"), P("orders.*.x")}, now).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(list->CheckPatterns({P(">")}, now).ok());  // Wider: not covered.
  EXPECT_TRUE(list->CheckPatterns({P("users.>")}, now).ok());

  EXPECT_EQ(list->Add(Subject("", now + absl::Minutes(1)), now).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(list->Add(Subject("x", now), now).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(list->Add(Pattern("bad..p", now + absl::Minutes(1)), now).code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(list->Remove(Revocation::Kind::kSubject, "alice", now).ok());
  EXPECT_TRUE(list->CheckSubject("alice", now).ok());
  EXPECT_EQ(list->Remove(Revocation::Kind::kSubject, "alice", now).code(),
            absl::StatusCode::kNotFound);
}

TEST(RevocationListTest, PersistsAtomicallyAndDropsExpired) {
  const std::string path = TempPath("revocations");
  std::remove(path.c_str());
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  {
    auto list = *RevocationList::Open(path, now);
    ASSERT_TRUE(list->Add(Subject("with space%and\nnewline", now + absl::Hours(1)), now).ok());
    ASSERT_TRUE(list->Add(Subject("short", now + absl::Seconds(2)), now).ok());
    ASSERT_TRUE(list->Add(Pattern("orders.>", now + absl::Hours(1)), now).ok());
  }
  std::ifstream tmp(path + ".tmp");
  EXPECT_FALSE(tmp.good()) << "the temporary file is renamed away";
  auto reopened = *RevocationList::Open(path, now + absl::Seconds(3));
  std::vector<Revocation> list = reopened->List(now + absl::Seconds(3));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].value, "with space%and\nnewline");
  EXPECT_EQ(list[0].until, now + absl::Hours(1));
  EXPECT_EQ(list[0].created, now);
  EXPECT_EQ(list[1].kind, Revocation::Kind::kPattern);
  EXPECT_EQ(list[1].value, "orders.>");

  std::ofstream(path) << "subject nope\n";
  absl::StatusOr<std::unique_ptr<RevocationList>> bad = RevocationList::Open(path, now);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find(path + ":1:"), std::string::npos) << bad.status();
}

TEST(StreamRegistryTest, ListsCountsAndEnds) {
  auto revocations = *RevocationList::Open("", absl::Now());
  StreamRegistry registry(revocations.get());
  std::vector<std::string> ended;
  auto make = [&](const std::string& sub, std::vector<store::TopicPattern> ps,
                  std::string_view proto) {
    StreamInfo info{sub, std::move(ps), proto, "127.0.0.1:1", absl::Now()};
    return *registry.Register(std::move(info), 7,
                              [&ended, sub](const absl::Status&) { ended.push_back(sub); });
  };
  StreamRegistry::Registration a = make("alice", {P("orders.eu"), P("users.1")}, "sse");
  StreamRegistry::Registration b = make("bob", {P("orders.>")}, "grpc");
  {
    StreamRegistry::Registration c = make("carol", {P(">")}, "sse");
    EXPECT_EQ(registry.size(), 3u);
  }
  EXPECT_EQ(registry.size(), 2u);
  a.set_position(42);

  std::vector<StreamSnapshot> all = registry.List("", nullptr);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].info.subject, "alice");
  EXPECT_EQ(all[0].position, 42u);
  EXPECT_EQ(all[1].position, 7u);
  EXPECT_EQ(registry.List("bob", nullptr).size(), 1u);
  const store::TopicPattern orders = P("orders.>");
  EXPECT_EQ(registry.List("", &orders).size(), 2u);
  const store::TopicPattern eu = P("orders.eu");
  EXPECT_EQ(registry.List("", &eu).size(), 1u);  // bob's orders.> is wider.

  std::map<std::string, uint64_t> counts = registry.CountByPattern(nullptr);
  EXPECT_EQ(counts, (std::map<std::string, uint64_t>{
                        {"orders.>", 1}, {"orders.eu", 1}, {"users.1", 1}}));
  EXPECT_EQ(registry.CountByPattern(&orders),
            (std::map<std::string, uint64_t>{{"orders.>", 1}, {"orders.eu", 1}}));

  EXPECT_EQ(registry.EndSubject("alice", absl::UnauthenticatedError("x")), 1u);
  EXPECT_EQ(ended, std::vector<std::string>{"alice"});
  EXPECT_EQ(registry.EndCovered(orders, absl::PermissionDeniedError("x")), 2u);
  EXPECT_EQ(registry.EndSubject("", absl::UnauthenticatedError("x")), 0u);
}

TEST(StreamRegistryTest, RegisterRefusesRevoked) {
  auto revocations = *RevocationList::Open("", absl::Now());
  StreamRegistry registry(revocations.get());
  ASSERT_TRUE(revocations->Add(Subject("alice", absl::Now() + absl::Minutes(1)), absl::Now()).ok());
  ASSERT_TRUE(revocations->Add(Pattern("secret.>", absl::Now() + absl::Minutes(1)), absl::Now()).ok());
  auto end = [](const absl::Status&) {};
  EXPECT_EQ(registry.Register({"alice", {P("a")}, "sse", "", absl::Now()}, 0, end).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(registry.Register({"bob", {P("secret.x")}, "sse", "", absl::Now()}, 0, end)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(registry.size(), 0u) << "refused registrations do not linger";
  EXPECT_TRUE(registry.Register({"bob", {P("a")}, "sse", "", absl::Now()}, 0, end).ok());
  EXPECT_TRUE(registry.Admit("bob", {P("a")}).ok());
}

// The race rule: a stream registering while a revocation is made is either
// refused or ended, never missed. Registrations stay alive throughout, so
// every accepted one must see its `end` called exactly once.
TEST(StreamRegistryTest, ConcurrentRegisterAndRevokeMissNothing) {
  auto revocations = *RevocationList::Open("", absl::Now());
  StreamRegistry registry(revocations.get());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::vector<StreamRegistry::Registration>> kept(kThreads);
  std::vector<std::unique_ptr<std::atomic<int>>> ends;
  for (int i = 0; i < kThreads * kPerThread; ++i) ends.push_back(std::make_unique<std::atomic<int>>(0));
  std::atomic<int> accepted{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) {
      }
      for (int i = 0; i < kPerThread; ++i) {
        std::atomic<int>* counter = ends[t * kPerThread + i].get();
        absl::StatusOr<StreamRegistry::Registration> r = registry.Register(
            {"alice", {P("a")}, "sse", "", absl::Now()}, 0,
            [counter](const absl::Status&) { counter->fetch_add(1); });
        if (r.ok()) {
          accepted.fetch_add(1);
          kept[t].push_back(*std::move(r));
        } else {
          counter->store(-1000);  // Refused: must never be ended.
        }
      }
    });
  }
  go.store(true);
  // Revoke while registrations are in flight: some are in, most still coming.
  while (accepted.load() < kPerThread) std::this_thread::yield();
  // As Admin/Revoke does: record, then scan.
  ASSERT_TRUE(revocations->Add(Subject("alice", absl::Now() + absl::Minutes(1)), absl::Now()).ok());
  registry.EndSubject("alice", absl::UnauthenticatedError("revoked"));
  for (std::thread& t : threads) t.join();
  int ended = 0;
  for (const auto& c : ends) {
    EXPECT_TRUE(c->load() == 1 || c->load() == -1000) << c->load();
    if (c->load() == 1) ++ended;
  }
  EXPECT_EQ(ended, accepted.load());
}

}  // namespace
}  // namespace tailgate

// RevocationList (matching, persistence, expiry) and StreamRegistry
// (listing, counting, ending, the register/revoke race rule).
#include "gateway/core/presence.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <fstream>
#include <functional>
#include <memory>
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

// A stream as the registry sees one: its patterns, what ending it does, and
// its registration (last: it unregisters before the rest goes).
struct TestStream {
  std::vector<store::TopicPattern> patterns;
  std::function<void()> on_end = [] {};
  StreamRegistry::Registration registration;

  static void End(const std::shared_ptr<void>& owner, const absl::Status&) {
    static_cast<TestStream*>(owner.get())->on_end();
  }
};

std::shared_ptr<TestStream> NewStream(std::vector<store::TopicPattern> patterns,
                                      std::function<void()> on_end = [] {}) {
  auto s = std::make_shared<TestStream>();
  s->patterns = std::move(patterns);
  s->on_end = std::move(on_end);
  return s;
}

absl::Status Register(StreamRegistry& registry, const std::shared_ptr<TestStream>& s,
                      const std::string& subject, uint64_t position = 0) {
  return registry.Register(&s->registration, StreamInfo{subject, "sse", "", absl::Now()},
                           &s->patterns, position, s, &TestStream::End);
}

TEST(StreamRegistryTest, ListsCountsAndEnds) {
  auto revocations = *RevocationList::Open("", absl::Now());
  StreamRegistry registry(revocations.get());
  std::vector<std::string> ended;
  auto make = [&](const std::string& sub, std::vector<store::TopicPattern> ps,
                  std::string_view proto) {
    auto s = NewStream(std::move(ps), [&ended, sub] { ended.push_back(sub); });
    EXPECT_TRUE(registry
                    .Register(&s->registration, StreamInfo{sub, proto, "127.0.0.1:1", absl::Now()},
                              &s->patterns, 7, s, &TestStream::End)
                    .ok());
    return s;
  };
  std::shared_ptr<TestStream> a = make("alice", {P("orders.eu"), P("users.1")}, "sse");
  std::shared_ptr<TestStream> b = make("bob", {P("orders.>")}, "grpc");
  {
    std::shared_ptr<TestStream> c = make("carol", {P(">")}, "sse");
    EXPECT_EQ(registry.size(), 3u);
  }
  EXPECT_EQ(registry.size(), 2u);
  a->registration.set_position(42);

  std::vector<StreamSnapshot> all = registry.List("", nullptr);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].info.subject, "alice");
  EXPECT_EQ(all[0].info.protocol, "sse");
  EXPECT_EQ(all[0].info.remote, "127.0.0.1:1");
  EXPECT_EQ(all[0].patterns.size(), 2u);
  EXPECT_EQ(all[0].position, 42u);
  EXPECT_EQ(all[1].info.protocol, "grpc");
  EXPECT_EQ(all[1].position, 7u);
  EXPECT_LT(all[0].id, all[1].id);
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

  // Unlinking from the middle, the head and the tail keeps the order.
  std::shared_ptr<TestStream> d = make("dave", {P("d")}, "sse");
  std::shared_ptr<TestStream> e = make("erin", {P("e")}, "sse");
  b.reset();
  a->registration.Reset();
  a->registration.Reset();  // Idempotent.
  std::vector<StreamSnapshot> left = registry.List("", nullptr);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].info.subject, "dave");
  EXPECT_EQ(left[1].info.subject, "erin");
  e.reset();
  std::shared_ptr<TestStream> f = make("frank", {P("f")}, "sse");
  left = registry.List("", nullptr);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].info.subject, "dave");
  EXPECT_EQ(left[1].info.subject, "frank");
  EXPECT_EQ(registry.size(), 2u);
}

TEST(StreamRegistryTest, NeverEndsAStreamThatIsGone) {
  StreamRegistry registry(nullptr);
  int ended = 0;
  // Reset: off the list, never ended.
  auto reset = NewStream({P("a")}, [&] { ++ended; });
  ASSERT_TRUE(Register(registry, reset, "alice").ok());
  reset->registration.Reset();
  // An owner already gone while its registration is still listed (the
  // owner's destructor has not reached it yet): not pinned, not ended.
  auto held = NewStream({P("a")}, [&] { ++ended; });
  auto owner = std::make_shared<int>(0);
  ASSERT_TRUE(registry
                  .Register(&held->registration, StreamInfo{"alice", "sse", "", absl::Now()},
                            &held->patterns, 0, owner, &TestStream::End)
                  .ok());
  owner.reset();
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.EndSubject("alice", absl::UnauthenticatedError("x")), 0u);
  EXPECT_EQ(ended, 0);
}

TEST(StreamRegistryTest, EndPinsTheOwnerForTheCall) {
  StreamRegistry registry(nullptr);
  // The stream's only other reference is dropped while it is being ended:
  // the registry's pin keeps it (and its registration) valid until after the
  // call, and the last release unregisters outside the registry's mutexes.
  std::shared_ptr<TestStream> s = NewStream({P("a")});
  std::weak_ptr<TestStream> weak = s;
  s->on_end = [&s, &weak] {
    s.reset();
    EXPECT_FALSE(weak.expired());
  };
  ASSERT_TRUE(Register(registry, s, "alice").ok());
  EXPECT_EQ(registry.EndSubject("alice", absl::UnauthenticatedError("x")), 1u);
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(registry.size(), 0u);
}

TEST(StreamRegistryTest, ARegistrationMayOutliveTheRegistry) {
  auto s = NewStream({P("a")});
  {
    StreamRegistry registry(nullptr);
    ASSERT_TRUE(Register(registry, s, "alice").ok());
  }
  s->registration.set_position(3);
  s->registration.Reset();
  EXPECT_FALSE(s->registration);
}

TEST(StreamRegistryTest, RegisterRefusesRevoked) {
  auto revocations = *RevocationList::Open("", absl::Now());
  StreamRegistry registry(revocations.get());
  ASSERT_TRUE(revocations->Add(Subject("alice", absl::Now() + absl::Minutes(1)), absl::Now()).ok());
  ASSERT_TRUE(revocations->Add(Pattern("secret.>", absl::Now() + absl::Minutes(1)), absl::Now()).ok());
  auto alice = NewStream({P("a")});
  EXPECT_EQ(Register(registry, alice, "alice").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(alice->registration);
  auto secret = NewStream({P("secret.x")});
  EXPECT_EQ(Register(registry, secret, "bob").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(registry.size(), 0u) << "refused registrations do not linger";
  auto bob = NewStream({P("a")});
  EXPECT_TRUE(Register(registry, bob, "bob").ok());
  EXPECT_TRUE(bob->registration);
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
  std::vector<std::vector<std::shared_ptr<TestStream>>> kept(kThreads);
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
        auto s = NewStream({P("a")}, [counter] { counter->fetch_add(1); });
        if (Register(registry, s, "alice").ok()) {
          accepted.fetch_add(1);
          kept[t].push_back(std::move(s));
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

// Publishers write 50,000 events across several topics while 50 subscribers
// connect, drop and reconnect at random moments with their last id (header
// and query forms, as EventSource and hand-written clients do). Every
// subscriber must end with exactly the events of its topics, in id order,
// without duplicates or gaps. A small tail cache makes reconnects land both
// inside the cache and behind it (store reads).
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "store/topic.h"
#include "tests/sse/sse_testing.h"
#include "tests/testing/sse_client.h"

namespace tailgate::testing {
namespace {

constexpr int kTopics = 5;
constexpr int kPublishers = 4;
constexpr int kSubscribers = 50;

// 50,000 events; TAILGATE_RACE_EVENTS shrinks the run for slow sanitizer
// builds (.ci/run sets it for the TSan run).
int EventCount() {
  const char* v = std::getenv("TAILGATE_RACE_EVENTS");
  int n = 0;
  if (v != nullptr && absl::SimpleAtoi(v, &n) && n >= kPublishers) return n;
  return 50'000;
}

std::vector<std::string> PatternsFor(int subscriber) {
  switch (subscriber % 5) {
    case 0:
      return {absl::StrCat("race.t", subscriber % kTopics)};
    case 1:
      return {absl::StrCat("race.t", subscriber % kTopics),
              absl::StrCat("race.t", (subscriber + 2) % kTopics)};
    case 2:
      return {"race.*"};
    case 3:
      return {absl::StrCat("race.t", subscriber % kTopics), "nothing.>"};
    default:
      return {"race.>"};
  }
}

TEST(SseRaceTest, ReconnectingSubscribersGetExactlyTheirEventsInOrder) {
  const int events = EventCount();
  Config config = SseTestConfig();
  config.store.durability = store::Durability::kNone;
  config.sse.tail_cache_events = 2000;
  config.http.threads = 2;
  std::unique_ptr<Gateway> gw = StartGateway(config);
  ASSERT_NE(gw, nullptr);
  const int port = gw->http_port();

  std::atomic<bool> published{false};
  std::atomic<int> reconnects{0};
  std::vector<std::vector<uint64_t>> received(kSubscribers);
  std::vector<std::string> failures(kSubscribers);
  // Set once publishing is over: how many events each subscriber must get.
  std::vector<std::atomic<int64_t>> expected_count(kSubscribers);
  for (auto& c : expected_count) c = -1;

  std::vector<std::thread> subscribers;
  for (int s = 0; s < kSubscribers; ++s) {
    subscribers.emplace_back([&, s] {
      std::mt19937_64 rng(1000 + s);
      absl::StatusOr<store::TopicFilter> filter = store::TopicFilter::Parse(PatternsFor(s));
      std::string base = "/v1/events?";
      for (const std::string& p : PatternsFor(s)) absl::StrAppend(&base, "topic=", p, "&");
      std::string last_id;  // Empty: first connection, from the beginning.
      std::vector<uint64_t>& got = received[s];
      const absl::Time deadline = absl::Now() + absl::Minutes(10);
      while (absl::Now() < deadline) {
        const int64_t want = expected_count[s].load();
        if (want >= 0 && static_cast<int64_t>(got.size()) >= want) return;
        std::string target = base;
        std::vector<std::pair<std::string, std::string>> headers;
        if (last_id.empty()) {
          target += "since=earliest";
        } else if (rng() % 2 == 0) {
          headers.emplace_back("Last-Event-ID", last_id);
        } else {
          target += "lastEventId=" + last_id;
        }
        absl::StatusOr<std::unique_ptr<SseClient>> c =
            SseClient::Connect("127.0.0.1", port, target, headers);
        if (!c.ok() || (*c)->status() != 200) {
          failures[s] = absl::StrCat("connect: ", c.ok() ? (*c)->body() : c.status().ToString());
          return;
        }
        // Drop after a random number of events (sometimes right away).
        const int budget = static_cast<int>(rng() % 1500);
        for (int n = 0; n < budget;) {
          const int64_t want_now = expected_count[s].load();
          if (want_now >= 0 && static_cast<int64_t>(got.size()) >= want_now) break;
          absl::StatusOr<SseEvent> e = (*c)->Next(absl::Seconds(1));
          if (e.status().code() == absl::StatusCode::kDeadlineExceeded &&
              absl::Now() < deadline) {
            continue;  // Nothing new yet (e.g. everything received, count not known yet).
          }
          if (!e.ok()) {
            failures[s] = absl::StrCat("after ", got.size(), " events: ", e.status().ToString());
            return;
          }
          uint64_t id = 0;
          if (e->type != "message" || !absl::SimpleAtoi(e->last_event_id, &id) ||
              !filter->Matches(e->data)) {
            failures[s] = absl::StrCat("unexpected event type=", e->type, " id=",
                                       e->last_event_id, " data=", e->data);
            return;
          }
          got.push_back(id);
          last_id = e->last_event_id;
          ++n;
        }
        (*c)->Close();
        reconnects.fetch_add(1);
      }
      failures[s] = "timed out";
    });
  }

  // Publishers: batches of 1..20 events, the topic as data so subscribers can
  // check what they get.
  std::mutex mu;
  std::vector<std::pair<uint64_t, std::string>> log_order;
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      std::mt19937 rng(p);
      int left = events / kPublishers;
      while (left > 0) {
        const int n = std::min(left, 1 + static_cast<int>(rng() % 20));
        std::vector<store::EventInput> batch(n);
        for (store::EventInput& in : batch) {
          in.topic = absl::StrCat("race.t", rng() % kTopics);
          in.data = in.topic;
        }
        std::vector<std::string> topics;
        for (const auto& in : batch) topics.push_back(in.topic);
        absl::StatusOr<std::vector<store::AppendResult>> r = AppendAndWait(*gw->log(), std::move(batch));
        ASSERT_TRUE(r.ok()) << r.status();
        std::lock_guard lock(mu);
        for (int i = 0; i < n; ++i) log_order.emplace_back((*r)[i].id, topics[i]);
        left -= n;
      }
    });
  }
  for (std::thread& t : publishers) t.join();
  std::sort(log_order.begin(), log_order.end());
  ASSERT_EQ(log_order.size(), static_cast<size_t>(events / kPublishers * kPublishers));

  std::vector<std::vector<uint64_t>> expected(kSubscribers);
  for (int s = 0; s < kSubscribers; ++s) {
    store::TopicFilter filter = *store::TopicFilter::Parse(PatternsFor(s));
    for (const auto& [id, topic] : log_order) {
      if (filter.Matches(topic)) expected[s].push_back(id);
    }
    expected_count[s] = static_cast<int64_t>(expected[s].size());
  }
  for (std::thread& t : subscribers) t.join();

  for (int s = 0; s < kSubscribers; ++s) {
    EXPECT_EQ(failures[s], "") << "subscriber " << s;
    // Exactly the expected ids: order, no duplicate, no gap in one comparison.
    ASSERT_EQ(received[s].size(), expected[s].size()) << "subscriber " << s;
    EXPECT_TRUE(received[s] == expected[s]) << "subscriber " << s;
  }
  // Connections drop every 0-1500 events: many reconnects per subscriber.
  EXPECT_GT(reconnects.load(), kSubscribers * 5 * events / 50'000);
  std::cerr << "race: " << reconnects.load() << " reconnects\n";
}

}  // namespace
}  // namespace tailgate::testing

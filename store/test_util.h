// Helpers shared by store's tests.
#ifndef TAILGATE_STORE_TEST_UTIL_H_
#define TAILGATE_STORE_TEST_UTIL_H_

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "store/log.h"

namespace tailgate::store::testing {

// A fresh, empty directory path under TEST_TMPDIR (not yet created).
inline std::string FreshDir(const std::string& tag = "") {
  static std::atomic<int> counter{0};
  const char* base = std::getenv("TEST_TMPDIR");
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? absl::StrCat(info->test_suite_name(), ".", info->name()) : "t";
  std::replace(name.begin(), name.end(), '/', '_');  // parameterized tests
  std::string dir = absl::StrCat(base ? base : "/tmp", "/", name, tag, "-", counter++);
  std::filesystem::remove_all(dir);
  return dir;
}

inline EventInput Ev(std::string topic, std::string data, std::string key = "",
                     std::string type = "") {
  EventInput e;
  e.topic = std::move(topic);
  e.data = std::move(data);
  e.idempotency_key = std::move(key);
  e.type = std::move(type);
  return e;
}

inline TopicFilter Filter(const std::vector<std::string>& patterns) {
  absl::StatusOr<TopicFilter> f = TopicFilter::Parse(patterns);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *f : TopicFilter();
}

// Reads everything matching `patterns` after `after_id` in chunks of
// `chunk` events, following next_after_id.
inline std::vector<Event> ReadAll(Log& log, const std::vector<std::string>& patterns,
                                  uint64_t after_id = 0, size_t chunk = 1024,
                                  bool* trimmed = nullptr) {
  std::vector<Event> out;
  ReadRequest req;
  req.filter = Filter(patterns);
  req.after_id = after_id;
  req.max_events = chunk;
  for (int guard = 0; guard < 1000000; ++guard) {
    absl::StatusOr<ReadResult> r = log.Read(req);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    if (guard == 0 && trimmed != nullptr) *trimmed = r->trimmed;
    for (Event& e : r->events) out.push_back(std::move(e));
    EXPECT_GE(r->next_after_id, req.after_id);
    if (r->reached_end) break;
    EXPECT_GT(r->next_after_id, req.after_id) << "read made no progress";
    req.after_id = r->next_after_id;
  }
  return out;
}

inline std::vector<uint64_t> Ids(const std::vector<Event>& events) {
  std::vector<uint64_t> ids;
  for (const Event& e : events) ids.push_back(e.id);
  return ids;
}

}  // namespace tailgate::store::testing

#endif  // TAILGATE_STORE_TEST_UTIL_H_

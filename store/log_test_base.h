// The fixture for store suites that run on every log backend: RocksDB (on
// a fake clock), JetStream, and JetStream with its read cache off, each
// test on a fresh log (a new data dir, or a new stream on one nats-server
// the whole test binary shares).
//
// A suite that holds on every backend derives from LogTest (or a fixture
// derived from it) and declares itself once with
// TAILGATE_RUN_ON_EVERY_BACKEND(Suite); a backend-specific one derives from
// LogTestBase and names its backend.
//
// Not thread-safe: the fixtures are used from the test thread.
#ifndef TAILGATE_STORE_LOG_TEST_BASE_H_
#define TAILGATE_STORE_LOG_TEST_BASE_H_

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "store/jetstream_log.h"
#include "store/log.h"
#include "store/rocksdb_log.h"
#include "store/test_util.h"
#include "tests/testing/nats_server.h"

namespace tailgate::store::testing {


// A clock tests move by hand, so windows and ages pass without sleeping.
class FakeClock {
 public:
  absl::Time Now() const {
    absl::MutexLock l(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock l(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

// kJetStreamNoCache: JetStream with its node-local read cache off
// (JetStreamOptions::read_cache_bytes = 0), so every read goes to the stream.
enum class Backend { kRocksDb, kJetStream, kJetStreamNoCache };

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kRocksDb:
      return "RocksDb";
    case Backend::kJetStream:
      return "JetStream";
    case Backend::kJetStreamNoCache:
      return "JetStreamNoCache";
  }
  return "?";
}

// One nats-server for the whole binary (stopped at exit); each test gets its
// own stream.
inline ::tailgate::testing::NatsServer& SharedNatsServer() {
  static ::tailgate::testing::NatsServer server;
  return server;
}

// The log under test: RocksDB (with a fake clock) or JetStream (real time,
// a fresh stream per test on the shared server).
class LogTestBase : public ::testing::Test {
 protected:
  virtual Backend backend() const = 0;
  bool jetstream() const { return backend() != Backend::kRocksDb; }

  void SetUp() override {
    options_.data_dir = FreshDir();
    // Ids from 1, as on JetStream, so that both backends assert the same ids
    // (FirstIdOfANewLogFollowsTheClock tests the default).
    options_.first_id_from_clock = false;
    // Background retention would race with the tests' own EnforceRetention.
    options_.retention_interval = absl::Hours(1);
    if (jetstream()) {
      static std::atomic<int> streams{0};
      const int n = streams++;
      js_.url = SharedNatsServer().url();
      js_.stream = absl::StrCat("T", n);
      js_.subject_prefix = absl::StrCat("t", n);
      if (backend() == Backend::kJetStreamNoCache) js_.read_cache_bytes = 0;
      // JetStream reserves max_total_bytes per stream on the server.
      options_.max_total_bytes = 64 << 20;
    }
  }

  std::unique_ptr<Log> Open() {
    absl::StatusOr<std::unique_ptr<Log>> log;
    if (jetstream()) {
      log = OpenJetStreamLog(options_, js_);
    } else {
      RocksDbLogHooks hooks;
      hooks.clock = [this] { return clock_.Now(); };
      log = OpenRocksDbLogWithHooks(options_, hooks);
    }
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  uint64_t AppendOne(Log& log, EventInput e) {
    std::vector<EventInput> v;
    v.push_back(std::move(e));
    absl::StatusOr<std::vector<AppendResult>> r = log.Append(std::move(v));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? (*r)[0].id : 0;
  }

  Options options_;
  JetStreamOptions js_;
  FakeClock clock_;
};

// Every backend, in the order the suites' test names list them.
inline constexpr Backend kEveryBackend[] = {Backend::kRocksDb, Backend::kJetStream,
                                            Backend::kJetStreamNoCache};

// Behaviour every backend shares: TEST_P suites on this fixture (or one
// derived from it) run once per backend.
class LogTest : public LogTestBase, public ::testing::WithParamInterface<Backend> {
 protected:
  Backend backend() const override { return GetParam(); }
};

}  // namespace tailgate::store::testing

// Declares that the TEST_P suite `suite` (a fixture derived from
// tailgate::store::testing::LogTest) runs on every backend; its tests are
// named Backends/<suite>.<test>/<backend>.
#define TAILGATE_RUN_ON_EVERY_BACKEND(suite)                                        \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                         \
                           ::testing::ValuesIn(::tailgate::store::testing::kEveryBackend), \
                           ::tailgate::store::testing::BackendName)

#endif  // TAILGATE_STORE_LOG_TEST_BASE_H_

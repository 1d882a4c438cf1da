// Shared setup for the SSE tests: an in-process Gateway on loopback port 0
// with a fresh log of the backend the build selected (RocksDB in TEST_TMPDIR,
// or a JetStream stream: tests/testing/test_store.h), and publishing straight
// through its log.
#ifndef TAILGATE_TESTS_SSE_SSE_TESTING_H_
#define TAILGATE_TESTS_SSE_SSE_TESTING_H_

#include <future>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/config.h"
#include "gateway/server/gateway.h"
#include "store/log.h"
#include "tests/testing/process.h"
#include "tests/testing/test_store.h"

namespace tailgate::testing {

inline Config SseTestConfig() {
  Config c;
  c.http.listen = "127.0.0.1:0";
  c.http.threads = 2;
  c.grpc.listen = "127.0.0.1:0";
  UseFreshTestStore(c, "sse");
  c.store.durability = store::Durability::kWal;
  c.sse.retry = absl::Milliseconds(1234);
  c.drain_timeout = absl::Seconds(5);
  return c;
}

inline std::unique_ptr<Gateway> StartGateway(const Config& config) {
  absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(config);
  if (!gw.ok()) {
    ADD_FAILURE() << gw.status();
    return nullptr;
  }
  return *std::move(gw);
}

// Log::Append, but handing the result over with std:: synchronisation, which
// ThreadSanitizer sees (Log::Append uses absl::Notification; Debian's Abseil
// is not TSAN-instrumented).
inline absl::StatusOr<std::vector<store::AppendResult>> AppendAndWait(
    store::Log& log, std::vector<store::EventInput> events) {
  std::promise<absl::StatusOr<std::vector<store::AppendResult>>> done;
  std::future<absl::StatusOr<std::vector<store::AppendResult>>> result = done.get_future();
  log.AppendAsync(std::move(events),
                  [&done](absl::StatusOr<std::vector<store::AppendResult>> r) {
                    done.set_value(std::move(r));
                  });
  return result.get();
}

inline uint64_t Publish(Gateway& gw, const std::string& topic, const std::string& data,
                        const std::string& type = "",
                        absl::Time publish_time = absl::InfinitePast()) {
  store::EventInput in;
  in.topic = topic;
  in.type = type;
  in.data = data;
  in.publish_time = publish_time;
  std::vector<store::EventInput> batch;
  batch.push_back(std::move(in));
  absl::StatusOr<std::vector<store::AppendResult>> r = AppendAndWait(*gw.log(), std::move(batch));
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return 0;
  }
  return (*r)[0].id;
}

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_SSE_SSE_TESTING_H_

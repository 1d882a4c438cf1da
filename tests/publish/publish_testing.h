// Helpers shared by the Publisher tests: an in-process gateway on loopback,
// request builders and a full read of the log.
#ifndef TAILGATE_TESTS_PUBLISH_PUBLISH_TESTING_H_
#define TAILGATE_TESTS_PUBLISH_PUBLISH_TESTING_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gateway/config.h"
#include "gateway/server/gateway.h"
#include "gtest/gtest.h"
#include "store/log.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/test_store.h"

namespace tailgate::testing {

// A Config for an in-process gateway: loopback, port 0, a fresh log of the
// backend the build selected (tests/testing/test_store.h).
inline Config LoopbackConfig(const std::string& dir_prefix = "publish") {
  Config config;
  config.http.listen = "127.0.0.1:0";
  config.http.threads = 1;
  config.grpc.listen = "127.0.0.1:0";
  UseFreshTestStore(config, dir_prefix);
  config.drain_timeout = absl::Seconds(10);
  return config;
}

inline v1::PublishRequest Req(std::string topic, std::string data, std::string type = "",
                              std::string key = "") {
  v1::PublishRequest r;
  r.set_topic(std::move(topic));
  r.set_data(std::move(data));
  r.set_type(std::move(type));
  r.set_idempotency_key(std::move(key));
  return r;
}

inline std::chrono::system_clock::time_point In(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

// Every event in the log up to its watermark, ascending.
inline std::vector<store::Event> ReadAllEvents(store::Log& log) {
  std::vector<store::Event> out;
  absl::StatusOr<store::TopicFilter> filter = store::TopicFilter::Parse({">"});
  EXPECT_TRUE(filter.ok()) << filter.status();
  store::ReadRequest req;
  req.filter = *filter;
  req.max_events = 4096;
  req.max_bytes = 64 << 20;
  while (true) {
    absl::StatusOr<store::ReadResult> r = log.Read(req);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    for (store::Event& e : r->events) out.push_back(std::move(e));
    if (r->reached_end || r->events.empty()) break;
    req.after_id = r->next_after_id;
  }
  return out;
}

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_PUBLISH_PUBLISH_TESTING_H_

// Shared by the log benchmarks (store_bench for RocksDB, jetstream_bench for
// JetStream): the same append load against any store::Log, so their figures
// compare like with like.
#ifndef TAILGATE_TESTS_BENCH_APPEND_LOAD_H_
#define TAILGATE_TESTS_BENCH_APPEND_LOAD_H_

#include <cstddef>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "store/log.h"

namespace tailgate::store::bench {

inline EventInput MakeBenchEvent(std::string topic, size_t data_bytes) {
  EventInput e;
  e.topic = std::move(topic);
  e.type = "bench";
  e.data = std::string(data_bytes, 'x');
  return e;
}

// `appenders` threads append `per_appender` events each, one event per
// append, on topics bench.0..bench.15. With `in_flight` 1 each thread is a
// blocking unary publisher; with more it keeps that many AppendAsync calls
// outstanding, like a PublishStream client pipelining requests. Aborts on
// any failed append (a benchmark must not count errors as work).
inline void RunAppenders(Log& log, int appenders, int per_appender, int in_flight,
                         size_t data_bytes) {
  std::vector<std::thread> threads;
  for (int a = 0; a < appenders; ++a) {
    threads.emplace_back([&, a] {
      const std::string topic = absl::StrCat("bench.", a % 16);
      if (in_flight == 1) {
        for (int i = 0; i < per_appender; ++i) {
          if (!log.Append({MakeBenchEvent(topic, data_bytes)}).ok()) std::abort();
        }
        return;
      }
      // A window of in-flight appends, refilled as acks arrive.
      struct Window {
        absl::Mutex mu;
        int outstanding = 0;
        int limit = 0;
      } w;
      w.limit = in_flight;
      for (int i = 0; i < per_appender; ++i) {
        {
          absl::MutexLock l(&w.mu);
          w.mu.Await(absl::Condition(
              +[](Window* win) { return win->outstanding < win->limit; }, &w));
          ++w.outstanding;
        }
        log.AppendAsync({MakeBenchEvent(topic, data_bytes)},
                        [&w](absl::StatusOr<std::vector<AppendResult>> r) {
                          if (!r.ok()) std::abort();
                          absl::MutexLock l(&w.mu);
                          --w.outstanding;
                        });
      }
      absl::MutexLock l(&w.mu);
      w.mu.Await(absl::Condition(+[](Window* win) { return win->outstanding == 0; }, &w));
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace tailgate::store::bench

#endif  // TAILGATE_TESTS_BENCH_APPEND_LOAD_H_

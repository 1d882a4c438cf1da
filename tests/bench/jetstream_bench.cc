// JetStream log throughput, next to store_bench's RocksDB figures: appends
// acknowledged by JetStream (and seen by this node's tail), and replay reads.
//
//   bazel run -c opt //tests/bench:jetstream_bench
//
// Starts its own `nats-server -js` on loopback (store under $TEST_TMPDIR or
// /tmp). Figures are in tests/bench/README.md ("JetStream"). Replay* read
// through the node that appended the history (served from its read cache);
// NewNodeReplay* through a second node opened afterwards (its cache loaded
// the history at open); UncachedReplay* through a node without the cache
// (served by JetStream, as history older than a node's copy is).
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "benchmark/benchmark.h"
#include "store/jetstream_log.h"
#include "store/log.h"
#include "tests/bench/append_load.h"
#include "tests/testing/nats_server.h"

namespace tailgate::store {
namespace {

constexpr size_t kEventBytes = 200;

testing::NatsServer& Server() {
  static testing::NatsServer server;  // stopped at exit
  return server;
}

// read_cache_bytes < 0: the default. Returns once the node's read cache has
// loaded the stream's history (`*loaded`: how many events, when not null).
std::unique_ptr<Log> OpenOrDie(const std::string& stream, int64_t read_cache_bytes = -1,
                               size_t* loaded = nullptr) {
  Options options;
  options.max_total_bytes = uint64_t{4} << 30;
  options.default_retention = {">", 0, absl::ZeroDuration()};
  JetStreamOptions js;
  js.url = Server().url();
  js.stream = stream;
  js.subject_prefix = absl::StrCat("bench", stream);
  if (read_cache_bytes >= 0) js.read_cache_bytes = static_cast<size_t>(read_cache_bytes);
  auto filled = std::make_shared<absl::Notification>();
  auto count = std::make_shared<size_t>(0);
  JetStreamLogHooks hooks;
  hooks.cache_filled = [filled, count](uint64_t, uint64_t, size_t n) {
    *count = n;
    filled->Notify();
  };
  auto log = OpenJetStreamLogWithHooks(options, js, hooks);
  if (!log.ok()) {
    fprintf(stderr, "open %s: %s\n", stream.c_str(), std::string(log.status().message()).c_str());
    abort();
  }
  filled->WaitForNotification();
  if (loaded != nullptr) *loaded = *count;
  return *std::move(log);
}

EventInput MakeEvent(std::string topic) { return bench::MakeBenchEvent(std::move(topic), kEventBytes); }

// args: appenders, in-flight per appender (1 = blocking Append).
void BM_JetStreamAppend(benchmark::State& state) {
  const int appenders = static_cast<int>(state.range(0));
  const int in_flight = static_cast<int>(state.range(1));
  static std::atomic<int> streams{0};
  auto log = OpenOrDie(absl::StrCat("APPEND", streams++));
  constexpr int kPerIteration = 6400;
  const int per_appender = kPerIteration / appenders;
  for (auto _ : state) bench::RunAppenders(*log, appenders, per_appender, in_flight, kEventBytes);
  state.SetItemsProcessed(state.iterations() * per_appender * appenders);
  state.SetBytesProcessed(state.iterations() * per_appender * appenders * kEventBytes);
}
BENCHMARK(BM_JetStreamAppend)
    ->ArgNames({"appenders", "in_flight"})
    ->Args({1, 1})
    ->Args({8, 1})
    ->Args({32, 1})
    ->Args({32, 8})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// 100 topics x 500 events (interleaved) plus one topic of 50000 events.
Log& ReplayLog() {
  static Log* log = [] {
    Log* l = OpenOrDie("REPLAY").release();
    for (int round = 0; round < 500; ++round) {
      std::vector<EventInput> batch;
      for (int t = 0; t < 100; ++t) batch.push_back(MakeEvent(absl::StrCat("many.", t)));
      if (!l->Append(std::move(batch)).ok()) abort();
    }
    for (int round = 0; round < 500; ++round) {
      std::vector<EventInput> batch;
      for (int i = 0; i < 100; ++i) batch.push_back(MakeEvent("single"));
      if (!l->Append(std::move(batch)).ok()) abort();
    }
    return l;
  }();
  return *log;
}

// A second node on the same stream, opened after the history was written;
// its read cache loaded the history at open (Open waits for that).
Log& NewNodeLog() {
  static Log* log = [] {
    ReplayLog();
    return OpenOrDie("REPLAY").release();
  }();
  return *log;
}

// A node without the read cache: every read goes to JetStream (history
// older than a node's copy).
Log& UncachedLog() {
  static Log* log = [] {
    ReplayLog();
    return OpenOrDie("REPLAY", 0).release();
  }();
  return *log;
}

// Opening a node on the 100k-event stream until its read cache holds the
// history: events loaded per second.
void BM_JetStreamOpenAndLoadCache(benchmark::State& state) {
  ReplayLog();
  int64_t events = 0;
  for (auto _ : state) {
    size_t loaded = 0;
    auto log = OpenOrDie("REPLAY", -1, &loaded);
    events += static_cast<int64_t>(loaded);
    state.PauseTiming();
    log.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(events);
}

enum class Node { kAppender, kNew, kUncached };

void Replay(benchmark::State& state, const std::vector<std::string>& patterns,
            Node node = Node::kAppender) {
  Log& log = node == Node::kNew ? NewNodeLog() : node == Node::kUncached ? UncachedLog() : ReplayLog();
  ReadRequest req;
  req.filter = *TopicFilter::Parse(patterns);
  req.max_events = 1024;
  int64_t events = 0;
  for (auto _ : state) {
    req.after_id = 0;
    for (;;) {
      auto r = log.Read(req);
      if (!r.ok()) abort();
      events += static_cast<int64_t>(r->events.size());
      benchmark::DoNotOptimize(r->events.data());
      if (r->reached_end) break;
      req.after_id = r->next_after_id;
    }
  }
  state.SetItemsProcessed(events);
  state.SetBytesProcessed(events * static_cast<int64_t>(kEventBytes));
}

void BM_JetStreamReplayOneTopic(benchmark::State& state) { Replay(state, {"single"}); }
void BM_JetStreamReplayOneOf100Topics(benchmark::State& state) { Replay(state, {"many.42"}); }
void BM_JetStreamReplayPatternOver100Topics(benchmark::State& state) {
  Replay(state, {"many.*"});
}
void BM_JetStreamNewNodeReplayOneTopic(benchmark::State& state) {
  Replay(state, {"single"}, Node::kNew);
}
void BM_JetStreamNewNodeReplayPatternOver100Topics(benchmark::State& state) {
  Replay(state, {"many.*"}, Node::kNew);
}
void BM_JetStreamUncachedReplayOneTopic(benchmark::State& state) {
  Replay(state, {"single"}, Node::kUncached);
}
void BM_JetStreamUncachedReplayPatternOver100Topics(benchmark::State& state) {
  Replay(state, {"many.*"}, Node::kUncached);
}
// A cursor a few events behind: the common read of a slow subscriber.
void BM_JetStreamReadTail(benchmark::State& state) {
  Log& log = ReplayLog();
  ReadRequest req;
  req.filter = *TopicFilter::Parse({"single"});
  req.max_events = 1024;
  int64_t events = 0;
  for (auto _ : state) {
    req.after_id = log.Watermark() - 4;
    auto r = log.Read(req);
    if (!r.ok()) abort();
    events += static_cast<int64_t>(r->events.size());
  }
  state.SetItemsProcessed(events);
}
BENCHMARK(BM_JetStreamReplayOneTopic)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JetStreamReplayOneOf100Topics)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JetStreamReplayPatternOver100Topics)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JetStreamReadTail)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JetStreamOpenAndLoadCache)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JetStreamNewNodeReplayOneTopic)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JetStreamNewNodeReplayPatternOver100Topics)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JetStreamUncachedReplayOneTopic)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JetStreamUncachedReplayPatternOver100Topics)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tailgate::store

BENCHMARK_MAIN();

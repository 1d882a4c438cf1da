// JetStream log throughput, next to store_bench's RocksDB figures: appends
// acknowledged by JetStream (and seen by this node's tail), and replay reads.
//
//   bazel run -c opt //tests/bench:jetstream_bench
//
// Starts its own `nats-server -js` on loopback (store under $TEST_TMPDIR or
// /tmp). Figures are in tests/bench/README.md ("JetStream"). Replay* read
// through the node that appended the history (served from its read cache);
// ColdReplay* through a second node opened afterwards (served by JetStream).
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
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

std::unique_ptr<Log> OpenOrDie(const std::string& stream) {
  Options options;
  options.max_total_bytes = uint64_t{4} << 30;
  options.default_retention = {">", 0, absl::ZeroDuration()};
  JetStreamOptions js;
  js.url = Server().url();
  js.stream = stream;
  js.subject_prefix = absl::StrCat("bench", stream);
  auto log = OpenJetStreamLog(options, js);
  if (!log.ok()) {
    fprintf(stderr, "open %s: %s\n", stream.c_str(), std::string(log.status().message()).c_str());
    abort();
  }
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

// A second node on the same stream, opened after the history was written:
// its read cache (JetStreamOptions::read_cache_bytes) holds none of it, so
// every read goes to JetStream (history older than the node's copy).
Log& ColdLog() {
  static Log* log = [] {
    ReplayLog();
    return OpenOrDie("REPLAY").release();
  }();
  return *log;
}

void Replay(benchmark::State& state, const std::vector<std::string>& patterns,
            bool cold = false) {
  Log& log = cold ? ColdLog() : ReplayLog();
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
void BM_JetStreamColdReplayOneTopic(benchmark::State& state) { Replay(state, {"single"}, true); }
void BM_JetStreamColdReplayPatternOver100Topics(benchmark::State& state) {
  Replay(state, {"many.*"}, true);
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
BENCHMARK(BM_JetStreamColdReplayOneTopic)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JetStreamColdReplayPatternOver100Topics)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tailgate::store

BENCHMARK_MAIN();

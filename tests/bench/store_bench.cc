// Store throughput: group-committed appends per durability mode, and replay
// reads (one topic, one of many topics, a pattern over many topics).
//
//   bazel run -c opt //tests/bench:store_bench
//
// Data lives under $TAILGATE_BENCH_DIR (default /tmp); each run makes and
// removes its own directories. Figures are in tests/bench/README.md.
#include <stdlib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "benchmark/benchmark.h"
#include "store/log.h"
#include "tests/bench/append_load.h"

namespace tailgate::store {
namespace {

constexpr size_t kEventBytes = 200;

std::string MakeDir(const std::string& tag) {
  const char* base = std::getenv("TAILGATE_BENCH_DIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/tailgate-bench-", tag, "-XXXXXX");
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) abort();
  std::string dir(buf.data());
  std::filesystem::remove_all(dir);  // the log wants to create it
  return dir;
}

std::unique_ptr<Log> OpenOrDie(const Options& options) {
  auto log = OpenRocksDbLog(options);
  if (!log.ok()) {
    fprintf(stderr, "open %s: %s\n", options.data_dir.c_str(),
            std::string(log.status().message()).c_str());
    abort();
  }
  return *std::move(log);
}

EventInput MakeEvent(std::string topic) { return bench::MakeBenchEvent(std::move(topic), kEventBytes); }

// args: appenders, durability (0 fsync, 1 wal, 2 none), in-flight per appender.
// With in-flight 1 each appender is a blocking unary publisher; with more it
// behaves like a PublishStream client that pipelines requests.
void BM_Append(benchmark::State& state) {
  const int appenders = static_cast<int>(state.range(0));
  const auto durability = static_cast<Durability>(state.range(1));
  const int in_flight = static_cast<int>(state.range(2));
  Options options;
  options.data_dir = MakeDir("append");
  options.durability = durability;
  auto log = OpenOrDie(options);
  constexpr int kPerIteration = 6400;
  const int per_appender = kPerIteration / appenders;
  for (auto _ : state) bench::RunAppenders(*log, appenders, per_appender, in_flight, kEventBytes);
  state.SetItemsProcessed(state.iterations() * per_appender * appenders);
  state.SetBytesProcessed(state.iterations() * per_appender * appenders * kEventBytes);
  state.SetLabel(std::string(DurabilityName(durability)));
  log.reset();
  std::filesystem::remove_all(options.data_dir);
}

void AppendArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"appenders", "durability", "in_flight"});
  for (int d : {0, 1, 2}) {
    for (int n : {1, 8, 32}) b->Args({n, d, 1});
  }
  // Pipelined publishers (a PublishStream keeps several requests in flight).
  for (int d : {0, 1, 2}) b->Args({32, d, 8});
}
BENCHMARK(BM_Append)->Apply(AppendArgs)->UseRealTime()->Unit(benchmark::kMillisecond);

// One log shared by the replay benchmarks: 100 topics x 2000 events
// (interleaved) plus one topic of 200000 events, flushed to SST files.
struct ReplayFixture {
  std::string dir;
  std::unique_ptr<Log> log;

  ReplayFixture() {
    Options options;
    options.data_dir = dir = MakeDir("replay");
    options.durability = Durability::kNone;
    options.max_total_bytes = 0;
    options.default_retention = {">", 0, absl::ZeroDuration()};
    log = OpenOrDie(options);
    for (int round = 0; round < 2000; ++round) {
      std::vector<EventInput> batch;
      for (int t = 0; t < 100; ++t) batch.push_back(MakeEvent(absl::StrCat("many.", t)));
      if (!log->Append(std::move(batch)).ok()) abort();
    }
    for (int round = 0; round < 2000; ++round) {
      std::vector<EventInput> batch;
      for (int i = 0; i < 100; ++i) batch.push_back(MakeEvent("single"));
      if (!log->Append(std::move(batch)).ok()) abort();
    }
    log.reset();  // flushes memtables: replay reads SST files, as it would after a while
    options.durability = Durability::kFsync;
    log = OpenOrDie(options);
  }
  ~ReplayFixture() {
    log.reset();
    std::filesystem::remove_all(dir);
  }
};

ReplayFixture& Fixture() {
  static ReplayFixture* f = new ReplayFixture();
  return *f;
}

void Replay(benchmark::State& state, const std::vector<std::string>& patterns) {
  Log& log = *Fixture().log;
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

void BM_ReplayOneTopic(benchmark::State& state) { Replay(state, {"single"}); }
void BM_ReplayOneOf100Topics(benchmark::State& state) { Replay(state, {"many.42"}); }
void BM_ReplayPatternOver100Topics(benchmark::State& state) { Replay(state, {"many.*"}); }
void BM_ReplayPatternOver50Topics(benchmark::State& state) {
  std::vector<std::string> patterns;
  for (int t = 0; t < 50; ++t) patterns.push_back(absl::StrCat("many.", t));
  Replay(state, patterns);
}
BENCHMARK(BM_ReplayOneTopic)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplayOneOf100Topics)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReplayPatternOver100Topics)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplayPatternOver50Topics)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tailgate::store

BENCHMARK_MAIN();

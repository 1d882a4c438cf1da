// Publish throughput and ack latency over loopback against an in-process
// Gateway (real gRPC, real RocksDB log): unary Publish with 1 and 32 callers,
// PublishStream with 1 and 8 streams, in fsync and none durability.
//
//   bazel run -c opt //tests/bench:publish_bench -- --seconds=5
//
// Client and server share the machine, so the figures are end to end: what a
// producer on the same host sees. Latency is send -> ack per event.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/config.h"
#include "gateway/server/gateway.h"
#include "gateway/diag/logging.h"
#include "tailgate/v1/publisher.grpc.pb.h"

ABSL_FLAG(double, seconds, 3, "measured time per case");
ABSL_FLAG(std::string, durability, "fsync,none", "durability modes to run, comma-separated");
ABSL_FLAG(std::string, cases, "unary1,unary32,stream1,stream8", "cases to run");
ABSL_FLAG(int, data_bytes, 100, "event data size");
ABSL_FLAG(int, window, 1000, "requests in flight per stream (client side)");
ABSL_FLAG(bool, client_coalesce, false,
          "stream clients let gRPC coalesce their writes (buffer_hint) while the window has room");
ABSL_FLAG(std::string, dir, "", "data dir root (default: $TEST_TMPDIR or /tmp)");

namespace tailgate {
namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  uint64_t events = 0;
  double seconds = 0;
  std::vector<double> latencies_us;
};

v1::PublishRequest Request(const std::string& data) {
  v1::PublishRequest r;
  r.set_topic("bench.orders");
  r.set_type("created");
  r.set_data(data);
  return r;
}

Result RunUnary(const std::string& address, int callers, absl::Duration length) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = v1::Publisher::NewStub(channel);
  const std::string data(absl::GetFlag(FLAGS_data_bytes), 'x');
  std::vector<std::vector<double>> lat(callers);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      const v1::PublishRequest req = Request(data);
      while (!stop.load(std::memory_order_relaxed)) {
        grpc::ClientContext ctx;
        v1::PublishResponse res;
        const Clock::time_point t0 = Clock::now();
        grpc::Status s = stub->Publish(&ctx, req, &res);
        if (!s.ok()) {
          std::fprintf(stderr, "publish failed: %s\n", s.error_message().c_str());
          return;
        }
        lat[c].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(length));  // The measurement period.
  stop = true;
  for (std::thread& t : threads) t.join();
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& v : lat) {
    r.events += v.size();
    r.latencies_us.insert(r.latencies_us.end(), v.begin(), v.end());
  }
  return r;
}

Result RunStreams(const std::string& address, int streams, absl::Duration length) {
  const std::string data(absl::GetFlag(FLAGS_data_bytes), 'x');
  const int window = absl::GetFlag(FLAGS_window);
  std::vector<std::vector<double>> lat(streams);
  std::vector<uint64_t> counts(streams, 0);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      // A channel per stream: separate HTTP/2 connections, as separate producers would.
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", s);  // Distinct args: no shared subchannel.
      auto stub = v1::Publisher::NewStub(grpc::CreateCustomChannel(
          address, grpc::InsecureChannelCredentials(), args));
      grpc::ClientContext ctx;
      auto stream = stub->PublishStream(&ctx);
      std::mutex mu;
      std::condition_variable cv;
      std::deque<Clock::time_point> sent;  // Send times of unacked requests, in order.
      const bool coalesce = absl::GetFlag(FLAGS_client_coalesce);
      std::thread writer([&] {
        const v1::PublishRequest req = Request(data);
        while (!stop.load(std::memory_order_relaxed)) {
          bool room = false;
          {
            std::unique_lock<std::mutex> l(mu);
            cv.wait(l, [&] { return sent.size() < static_cast<size_t>(window); });
            sent.push_back(Clock::now());
            room = sent.size() + 1 < static_cast<size_t>(window);
          }
          // Never leave a hinted (buffered) write behind before waiting for room.
          grpc::WriteOptions options;
          if (coalesce && room) options.set_buffer_hint();
          if (!stream->Write(req, options)) break;
        }
        stream->WritesDone();
      });
      v1::PublishResponse res;
      while (stream->Read(&res)) {
        Clock::time_point t0;
        {
          std::lock_guard<std::mutex> l(mu);
          t0 = sent.front();
          sent.pop_front();
        }
        cv.notify_one();
        lat[s].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        ++counts[s];
      }
      writer.join();
      grpc::Status st = stream->Finish();
      if (!st.ok()) std::fprintf(stderr, "stream failed: %s\n", st.error_message().c_str());
    });
  }
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(length));  // The measurement period.
  stop = true;
  for (std::thread& t : threads) t.join();
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (int s = 0; s < streams; ++s) {
    r.events += counts[s];
    r.latencies_us.insert(r.latencies_us.end(), lat[s].begin(), lat[s].end());
  }
  return r;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

int Main() {
  SetLogOptions({LogLevel::kWarning, false});
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string root = absl::GetFlag(FLAGS_dir);
  if (root.empty()) root = tmp ? tmp : "/tmp";
  const absl::Duration length = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  std::printf("%-10s %-6s %12s %10s %10s  (data %d bytes, %.0f s per case)\n", "case",
              "durab.", "events/s", "p50 us", "p99 us", absl::GetFlag(FLAGS_data_bytes),
              absl::ToDoubleSeconds(length));
  int run = 0;
  for (absl::string_view mode : absl::StrSplit(absl::GetFlag(FLAGS_durability), ',')) {
    absl::StatusOr<store::Durability> durability =
        store::ParseDurability(std::string(mode.data(), mode.size()));
    if (!durability.ok()) {
      std::fprintf(stderr, "%s\n", durability.status().ToString().c_str());
      return 2;
    }
    for (absl::string_view c : absl::StrSplit(absl::GetFlag(FLAGS_cases), ',')) {
      Config config;
      config.http.listen = "127.0.0.1:0";
      config.http.threads = 1;
      config.grpc.listen = "127.0.0.1:0";
      config.store.durability = *durability;
      config.store.data_dir = root + "/publish_bench_" + std::to_string(::getpid()) + "_" +
                              std::to_string(run++);
      std::filesystem::remove_all(config.store.data_dir);
      absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(config);
      if (!gw.ok()) {
        std::fprintf(stderr, "%s\n", gw.status().ToString().c_str());
        return 1;
      }
      const std::string address = (*gw)->grpc_address();
      Result r;
      if (c == "unary1") r = RunUnary(address, 1, length);
      else if (c == "unary32") r = RunUnary(address, 32, length);
      else if (c == "stream1") r = RunStreams(address, 1, length);
      else if (c == "stream8") r = RunStreams(address, 8, length);
      else {
        std::fprintf(stderr, "unknown case %s\n", std::string(c.data(), c.size()).c_str());
        return 2;
      }
      (*gw)->Shutdown();
      gw->reset();
      std::filesystem::remove_all(config.store.data_dir);
      std::printf("%-10s %-6s %12.0f %10.0f %10.0f\n", std::string(c.data(), c.size()).c_str(),
                  std::string(mode.data(), mode.size()).c_str(), r.events / r.seconds,
                  Percentile(r.latencies_us, 0.5), Percentile(r.latencies_us, 0.99));
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace tailgate

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tailgate::Main();
}

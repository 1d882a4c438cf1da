// loadgen: one SSE load generator for tailgate and for nchan, so both are
// measured by the same client code (tests/bench/compare.sh runs it; see
// tests/bench/README.md, "Side by side with nchan").
//
//   loadgen --server=tailgate --http=127.0.0.1:8080 --grpc=127.0.0.1:50051 --pid=PID
//           --scenario=fanout --subscribers=1000 --events=2000 --burst=100
//   loadgen --server=nchan --http=127.0.0.1:8090 --pid=WORKER_PID --scenario=latency ...
//
// Subscribers (tests/bench/subscribers.h) are raw-socket SSE clients on ONE
// io_context thread, HTTP/1.1 or, with --h2_connections, HTTP/2 streams.
// Publishing: tailgate over gRPC PublishStream (one persistent stream, or
// --connections streams for ingest), nchan over its HTTP POST publisher API
// (pipelined keep-alive connections). Server CPU and RSS come from
// /proc/PID/{stat,status} of --pid (for nginx: the worker process).
//
// Every run prints one "RESULT key=value ..." line (compare.sh parses it),
// including loadgen_cpu_pct: this process's own CPU over the run, the check
// that the load generator was not the bottleneck.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/publishers.h"
#include "tests/bench/subscribers.h"

ABSL_FLAG(std::string, server, "tailgate", "tailgate, nchan or redis (ingest only)");
ABSL_FLAG(std::string, redis, "127.0.0.1:6379", "--server=redis: HOST:PORT of redis-server");
ABSL_FLAG(std::string, http, "127.0.0.1:8080", "HOST:PORT of the SSE endpoint (nchan: also /pub)");
ABSL_FLAG(std::string, grpc, "127.0.0.1:50051", "tailgate's gRPC address");
ABSL_FLAG(std::string, pub, "",
          "HOST:PORT for HTTP publishing when it is not --http (nginx serving the subscribers "
          "over h2c takes the publisher's HTTP/1.1 POSTs on another port)");
ABSL_FLAG(int, pid, 0, "server process measured for CPU and RSS (nginx: the worker)");
ABSL_FLAG(std::string, scenario, "fanout", "fanout, ingest, storm, idle or latency");
ABSL_FLAG(int, subscribers, 1000, "SSE connections (fanout, storm, idle, latency)");
ABSL_FLAG(int, events, 2000, "fanout: events published in all");
ABSL_FLAG(int, burst, 1, "fanout: events published back to back per round");
ABSL_FLAG(int, rate, 1000, "latency: events/s, paced");
ABSL_FLAG(double, seconds, 5, "latency, ingest: publishing time");
ABSL_FLAG(int, behind, 100, "storm: events each client is behind");
ABSL_FLAG(int, data_bytes, 200, "bytes of data per event");
ABSL_FLAG(int, connections, 2, "ingest: publishing streams (tailgate) / connections (nchan)");
ABSL_FLAG(int, window, 1000, "ingest: unacknowledged requests per stream / connection");
ABSL_FLAG(int, batch, 1,
          "ingest: events per request; above 1, tailgate gets PublishBatch calls (one per "
          "connection at a time, --window unused), nchan has no batch API");
ABSL_FLAG(int, topics, 1000, "idle: the connections spread over this many topics");
ABSL_FLAG(int, connect_window, 1000, "connections being set up at once (storm: all)");
ABSL_FLAG(bool, quickack, true, "subscribers ACK every read at once (TCP_QUICKACK)");
ABSL_FLAG(int, h2_connections, 0,
          "above 0: subscribers are HTTP/2 streams (h2c, prior knowledge) spread over this "
          "many connections; 0: HTTP/1.1, a connection each");
ABSL_FLAG(std::string, label, "", "copied into the RESULT line");
ABSL_FLAG(bool, publish_http, false,
          "tailgate: publish with POST /v1/publish (JSON; start it with --http_publish=open) "
          "instead of gRPC; --batch > 1 sends {\"events\":[...]}");

namespace tailgate::bench {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;


// ---------------------------------------------------------------------------
// Scenarios.

struct Env {
  std::string name;  // --server
  bool nchan = false;
  bool redis = false;
  HostPort http;
  int pid = 0;
  std::unique_ptr<Publisher> publisher;
  std::string SubTarget(const std::string& topic) const {
    return nchan ? "/sub/" + topic : "/v1/events?topic=" + topic;
  }
};

Subscribers NewSubscribers(const Env& env) {
  return Subscribers(env.http, absl::GetFlag(FLAGS_quickack), absl::GetFlag(FLAGS_h2_connections));
}

void PrintResult(const Env& env, const std::string& scenario, const std::string& fields) {
  std::printf("RESULT server=%s scenario=%s label=%s %s\n", env.name.c_str(),
              scenario.c_str(), absl::GetFlag(FLAGS_label).empty() ? "-"
                                                                    : absl::GetFlag(FLAGS_label).c_str(),
              fields.c_str());
  std::fflush(stdout);
}

void ConnectAll(Subscribers& subs, int n, const std::function<std::string(int)>& target,
                const std::string& headers, int window, absl::Duration timeout) {
  subs.Connect(n, target, headers, window);
  const absl::Time deadline = absl::Now() + timeout;
  while (subs.heads() + subs.errors() < n) {
    if (absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (subs.heads() != n || subs.bad_status() != 0) {
    Die(absl::StrCat("only ", subs.heads(), " of ", n, " subscribers connected (", subs.errors(),
                     " errors, ", subs.bad_status(), " non-200)"));
  }
}

void FanOut(Env& env) {
  const int n = absl::GetFlag(FLAGS_subscribers);
  const int burst = std::max(1, absl::GetFlag(FLAGS_burst));
  const int rounds = std::max(1, absl::GetFlag(FLAGS_events) / burst);
  Subscribers subs = NewSubscribers(env);
  subs.Run();
  ConnectAll(subs, n, [&](int) { return env.SubTarget("fan"); }, "",
             absl::GetFlag(FLAGS_connect_window), absl::Seconds(120));
  Meter m(env.pid);
  uint64_t want = 0;
  bool complete = true;
  for (int r = 0; r < rounds && complete; ++r) {
    want += static_cast<uint64_t>(n) * static_cast<uint64_t>(burst);
    env.publisher->Burst("fan", burst);
    complete = subs.WaitDeliveries(want, absl::Seconds(30));
  }
  const double secs = m.seconds(), cpu = m.server_cpu(), self = m.self_cpu();
  const uint64_t d = subs.deliveries();
  subs.Stop();
  PrintResult(env, "fanout",
              absl::StrCat("subscribers=", n, " burst=", burst, " events=", rounds * burst,
                           " complete=", complete ? 1 : 0, " deliveries=", d,
                           " seconds=", secs, " deliveries_per_s=", static_cast<double>(d) / secs,
                           " server_cpu_s=", cpu,
                           " server_us_per_delivery=", cpu * 1e6 / static_cast<double>(std::max<uint64_t>(d, 1)),
                           " deliveries_per_cpu_s=", static_cast<double>(d) / std::max(cpu, 1e-9),
                           " server_cpu_pct=", 100 * cpu / secs,
                           " loadgen_cpu_pct=", 100 * self / secs));
}

void Ingest(Env& env) {
  const double seconds = absl::GetFlag(FLAGS_seconds);
  Meter m(env.pid);
  const int batch = absl::GetFlag(FLAGS_batch);
  if (batch < 1) Die("--batch must be >= 1");
  const uint64_t acked =
      batch > 1 ? env.publisher->FloodBatches("ingest", seconds, absl::GetFlag(FLAGS_connections), batch)
                : env.publisher->Flood("ingest", seconds, absl::GetFlag(FLAGS_connections),
                                       absl::GetFlag(FLAGS_window));
  // Rates over the flood period (the drain of the last windows is excluded).
  const double cpu = m.server_cpu(), self = m.self_cpu(), secs = m.seconds();
  PrintResult(env, "ingest",
              absl::StrCat("connections=", absl::GetFlag(FLAGS_connections),
                           " window=", absl::GetFlag(FLAGS_window), " batch=", batch,
                           " acked=", acked,
                           " seconds=", seconds, " acked_per_s=", static_cast<double>(acked) / seconds,
                           " server_us_per_event=", cpu * 1e6 / static_cast<double>(std::max<uint64_t>(acked, 1)),
                           " server_cpu_pct=", 100 * cpu / secs,
                           " loadgen_cpu_pct=", 100 * self / secs));
}

void Storm(Env& env) {
  const int n = absl::GetFlag(FLAGS_subscribers);
  const int behind = absl::GetFlag(FLAGS_behind);
  // A recorder learns the server's ids of 2 x behind events.
  Subscribers recorder = NewSubscribers(env);
  recorder.set_record_ids(true);
  recorder.Run();
  ConnectAll(recorder, 1, [&](int) { return env.SubTarget("storm"); }, "", 1, absl::Seconds(10));
  for (int sent = 0; sent < 2 * behind; sent += std::min(100, 2 * behind - sent)) {
    env.publisher->Burst("storm", std::min(100, 2 * behind - sent));
  }
  if (!recorder.WaitDeliveries(static_cast<uint64_t>(2 * behind), absl::Seconds(10))) {
    Die("storm: the recorder did not see the events");
  }
  const std::vector<std::string> ids = recorder.ids();
  const std::string resume = ids[ids.size() - static_cast<size_t>(behind) - 1];
  Subscribers subs = NewSubscribers(env);
  subs.Watch(ids.back(), n);
  subs.Run();
  Meter m(env.pid);
  subs.Connect(n, [&](int) { return env.SubTarget("storm"); },
               absl::StrCat("Last-Event-ID: ", resume, "\r\n"), n);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (subs.watched() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
  const bool done = subs.watched() == n;
  const int64_t end = done ? subs.all_watched_ns() : MonoNanos();
  const double secs = static_cast<double>(end - subs.connect_started_ns()) / 1e9;
  const double heads_s =
      subs.all_heads_ns() ? static_cast<double>(subs.all_heads_ns() - subs.connect_started_ns()) / 1e9
                          : -1;
  const double cpu = m.server_cpu(), self = m.self_cpu(), wall = m.seconds();
  const uint64_t d = subs.deliveries();
  subs.Stop();
  recorder.Stop();
  PrintResult(env, "storm",
              absl::StrCat("subscribers=", n, " behind=", behind, " complete=", done ? 1 : 0,
                           " caught_up=", subs.watched(), " seconds=", secs,
                           " all_connected_s=", heads_s, " deliveries=", d,
                           " expected=", static_cast<uint64_t>(n) * static_cast<uint64_t>(behind),
                           " errors=", subs.errors(), " server_cpu_s=", cpu,
                           " loadgen_cpu_pct=", 100 * self / wall));
}

void Idle(Env& env) {
  const int n = absl::GetFlag(FLAGS_subscribers);
  const int topics = std::max(1, absl::GetFlag(FLAGS_topics));
  const int64_t rss0 = ServerRss(env.pid);
  Subscribers subs = NewSubscribers(env);
  subs.Run();
  const int64_t t0 = MonoNanos();
  ConnectAll(subs, n, [&](int i) { return env.SubTarget(absl::StrCat("idle_", i % topics)); }, "",
             absl::GetFlag(FLAGS_connect_window), absl::Seconds(180));
  const double connect_s = static_cast<double>(MonoNanos() - t0) / 1e9;
  absl::SleepFor(absl::Seconds(2));
  const int64_t rss1 = ServerRss(env.pid);
  // Idle means idle: the server's CPU over 5 quiet seconds.
  Meter m(env.pid);
  absl::SleepFor(absl::Seconds(5));
  const double idle_cpu_pct = 100 * m.server_cpu() / m.seconds();
  subs.Stop();
  PrintResult(env, "idle",
              absl::StrCat("connections=", n, " topics=", topics, " connect_s=", connect_s,
                           " rss_before_mb=", static_cast<double>(rss0) / 1048576.0,
                           " rss_after_mb=", static_cast<double>(rss1) / 1048576.0,
                           " rss_per_conn_bytes=", static_cast<double>(rss1 - rss0) / n,
                           " idle_server_cpu_pct=", idle_cpu_pct));
}

void Latency(Env& env) {
  const int n = absl::GetFlag(FLAGS_subscribers);
  const int rate = absl::GetFlag(FLAGS_rate);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  Subscribers subs = NewSubscribers(env);
  subs.set_record_latency(true);
  subs.Run();
  ConnectAll(subs, n, [&](int) { return env.SubTarget("lat"); }, "",
             absl::GetFlag(FLAGS_connect_window), absl::Seconds(120));
  Meter m(env.pid);
  const uint64_t published = env.publisher->Paced("lat", rate, seconds);
  const bool complete = subs.WaitDeliveries(static_cast<uint64_t>(n) * published, absl::Seconds(30));
  const double secs = m.seconds(), cpu = m.server_cpu(), self = m.self_cpu();
  const uint64_t d = subs.deliveries();
  subs.Stop();
  const Histogram& h = subs.histogram();
  PrintResult(env, "latency",
              absl::StrCat("subscribers=", n, " rate=", rate, " seconds=", seconds,
                           " published=", published, " complete=", complete ? 1 : 0,
                           " deliveries=", d, " deliveries_per_s=", static_cast<double>(d) / secs,
                           " p50_ms=", h.PercentileMs(0.5), " p99_ms=", h.PercentileMs(0.99),
                           " p999_ms=", h.PercentileMs(0.999),
                           " max_ms=", static_cast<double>(h.max_ns) / 1e6,
                           " server_cpu_pct=", 100 * cpu / secs,
                           " server_us_per_delivery=", cpu * 1e6 / static_cast<double>(std::max<uint64_t>(d, 1)),
                           " loadgen_cpu_pct=", 100 * self / secs));
}

}  // namespace
}  // namespace tailgate::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace tailgate::bench;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);

  Env env;
  env.name = absl::GetFlag(FLAGS_server);
  env.nchan = env.name == "nchan";
  env.redis = env.name == "redis";
  if (env.name != "tailgate" && !env.nchan && !env.redis) {
    Die("--server: tailgate, nchan or redis (redis: --scenario=ingest only)");
  }
  env.http = ParseHostPort(absl::GetFlag(FLAGS_http));
  env.pid = absl::GetFlag(FLAGS_pid);
  const size_t bytes = static_cast<size_t>(absl::GetFlag(FLAGS_data_bytes));
  if (env.redis) {
    env.publisher = NewRedisPublisher(ParseHostPort(absl::GetFlag(FLAGS_redis)), bytes);
  } else if (env.nchan || absl::GetFlag(FLAGS_publish_http)) {
    const std::string pub = absl::GetFlag(FLAGS_pub);
    env.publisher = NewHttpPublisher(pub.empty() ? env.http : ParseHostPort(pub), !env.nchan, bytes);
  } else {
    env.publisher = NewTailgatePublisher(absl::GetFlag(FLAGS_grpc), bytes);
  }
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  if (scenario == "fanout") {
    FanOut(env);
  } else if (scenario == "ingest") {
    Ingest(env);
  } else if (scenario == "storm") {
    Storm(env);
  } else if (scenario == "idle") {
    Idle(env);
  } else if (scenario == "latency") {
    Latency(env);
  } else {
    Die("--scenario: fanout, ingest, storm, idle or latency");
  }
  env.publisher.reset();
  return 0;
}

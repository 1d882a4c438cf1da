// SSE fan-out benchmarks against the real gateway binary (a child process,
// so its CPU time is its own): deliveries/s and server CPU per delivery,
// publish-to-receive latency, and a reconnect storm.
//
//   bazel run -c opt //tests/bench:sse_bench -- --mode=all
//
// Subscribers are asynchronous clients on one io_context thread in this
// process; events are published over gRPC (tailgate.v1.Publisher). Each
// event's data starts with "t=<CLOCK_MONOTONIC ns>" so receivers compute
// publish-to-receive latency. On a 2-core box the clients, the publisher and
// the gateway share the CPUs: figures are lower bounds for the gateway.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/testing/process.h"

ABSL_FLAG(std::string, tailgate, "gateway/tailgate", "path of the gateway binary");
ABSL_FLAG(std::string, mode, "all", "fanout, latency, storm or all");
ABSL_FLAG(int, http_threads, 0, "gateway --http_threads (0 = cores)");
ABSL_FLAG(int, latency_subscribers, 1000, "subscribers in the latency run");
ABSL_FLAG(int, latency_rate, 1000, "events/s published in the latency run");

namespace tailgate::bench {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

int64_t MonoNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the ")" of the command name; utime and stime are 14 and 15.
  std::vector<std::string> f = absl::StrSplit(stat.substr(stat.rfind(')') + 2), ' ');
  int64_t ut = 0, st = 0;
  (void)absl::SimpleAtoi(f[11], &ut);
  (void)absl::SimpleAtoi(f[12], &st);
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Latency histogram in 10 us buckets up to 20 s.
struct Histogram {
  std::vector<uint64_t> buckets = std::vector<uint64_t>(2'000'001, 0);
  uint64_t count = 0;
  void Add(int64_t ns) {
    int64_t b = std::clamp<int64_t>(ns / 10'000, 0, 2'000'000);
    ++buckets[static_cast<size_t>(b)];
    ++count;
  }
  double PercentileMs(double p) const {
    uint64_t want = static_cast<uint64_t>(p * static_cast<double>(count));
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets.size(); ++i) {
      seen += buckets[i];
      if (seen > want) return static_cast<double>(i + 1) * 0.01;
    }
    return 20000;
  }
};

struct Gateway {
  std::unique_ptr<testing::Process> process;
  int http_port = 0;
  std::string grpc;
};

Gateway StartGateway(const std::vector<std::string>& extra) {
  Gateway gw;
  std::vector<std::string> argv = {absl::GetFlag(FLAGS_tailgate), "--http_listen=127.0.0.1:0",
                                   "--grpc_listen=127.0.0.1:0",
                                   "--data_dir=" + testing::MakeTempDir("ssebench"),
                                   "--durability=none", "--max_connections=20000",
                                   "--log_level=info"};
  if (absl::GetFlag(FLAGS_http_threads) > 0) {
    argv.push_back(absl::StrCat("--http_threads=", absl::GetFlag(FLAGS_http_threads)));
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  gw.process = std::make_unique<testing::Process>(argv);
  std::optional<std::string> ready = gw.process->WaitForLine("tailgate ready");
  if (!ready) {
    std::fprintf(stderr, "gateway did not start:\n%s\n", gw.process->output().c_str());
    std::exit(1);
  }
  const std::string http = testing::ValueAfter(*ready, "http=");
  (void)absl::SimpleAtoi(http.substr(http.rfind(':') + 1), &gw.http_port);
  gw.grpc = testing::ValueAfter(*ready, "grpc=");
  return gw;
}

// Many SSE subscribers on one io_context thread. Counts events and records
// latency from the "t=" prefix of each event's data.
class Clients {
 public:
  struct Conn {
    explicit Conn(net::io_context& ioc) : socket(ioc) {}
    tcp::socket socket;
    std::array<char, 16 * 1024> buf;
    std::string request;
    bool head_done = false;
    std::string line;  // First bytes of the current line.
    size_t line_len = 0;
    uint64_t last_id = 0;
    uint64_t count = 0;
  };

  explicit Clients(int port) : port_(port) {}

  void Connect(int n, const std::string& target, const std::string& extra_header = "") {
    for (int i = 0; i < n; ++i) {
      auto c = std::make_shared<Conn>(ioc_);
      c->request = absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n", extra_header,
                                "Accept: text/event-stream\r\n\r\n");
      conns_.push_back(c);
      c->socket.async_connect(tcp::endpoint(net::ip::address_v4::loopback(), port_),
                              [this, c](boost::system::error_code ec) {
                                if (ec) {
                                  ++errors_;
                                  return;
                                }
                                c->socket.set_option(tcp::no_delay(true));
                                net::async_write(c->socket, net::buffer(c->request),
                                                 [this, c](boost::system::error_code ec2, size_t) {
                                                   if (ec2) {
                                                     ++errors_;
                                                     return;
                                                   }
                                                   Read(c);
                                                 });
                              });
    }
  }

  void Run() {
    thread_ = std::thread([this] {
      auto guard = net::make_work_guard(ioc_);
      ioc_.run();
    });
  }
  void Stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  int heads() const { return heads_.load(); }
  int errors() const { return errors_.load(); }
  uint64_t deliveries() const { return deliveries_.load(); }
  void WatchId(uint64_t id) { watch_id_ = id; }
  int watched() const { return watched_.load(); }
  Histogram TakeHistogram() {
    Histogram h;
    std::swap(h, hist_);  // Call only after Stop().
    return h;
  }
  void set_record_latency(bool on) { record_ = on; }

 private:
  void Read(const std::shared_ptr<Conn>& c) {
    c->socket.async_read_some(net::buffer(c->buf), [this, c](boost::system::error_code ec,
                                                             size_t n) {
      if (ec) {
        ++errors_;
        return;
      }
      Parse(*c, n);
      Read(c);
    });
  }

  void Parse(Conn& c, size_t n) {
    const int64_t now = MonoNanos();
    for (size_t i = 0; i < n; ++i) {
      const char ch = c.buf[i];
      if (ch != '\n') {
        if (c.line.size() < 40) c.line.push_back(ch);
        continue;
      }
      const std::string& l = c.line;
      if (!c.head_done) {
        if (l == "\r") {
          c.head_done = true;
          ++heads_;
        }
      } else if (l.rfind("id: ", 0) == 0) {
        uint64_t id = 0;
        (void)absl::SimpleAtoi(absl::string_view(l).substr(4), &id);
        c.last_id = id;
        ++c.count;
        deliveries_.fetch_add(1, std::memory_order_relaxed);
        if (watch_id_ != 0 && id == watch_id_) ++watched_;
      } else if (record_ && l.rfind("data: t=", 0) == 0) {
        int64_t t = 0;
        absl::string_view v = absl::string_view(l).substr(8);
        v = v.substr(0, v.find('x'));
        if (absl::SimpleAtoi(v, &t)) hist_.Add(now - t);
      }
      c.line.clear();
    }
  }

  int port_;
  net::io_context ioc_;
  std::thread thread_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::atomic<int> heads_{0};
  std::atomic<int> errors_{0};
  std::atomic<uint64_t> deliveries_{0};
  std::atomic<uint64_t> watch_id_{0};
  std::atomic<int> watched_{0};
  bool record_ = false;
  Histogram hist_;
};

std::string EventData(size_t bytes) {
  std::string d = absl::StrCat("t=", MonoNanos());
  d.resize(bytes, 'x');
  return d;
}

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

uint64_t PublishBatch(v1::Publisher::Stub& stub, const std::string& topic, int n, size_t bytes) {
  v1::PublishBatchRequest req;
  for (int i = 0; i < n; ++i) {
    v1::PublishRequest* r = req.add_events();
    r->set_topic(topic);
    r->set_data(EventData(bytes));
  }
  v1::PublishBatchResponse res;
  grpc::ClientContext ctx;
  grpc::Status s = stub.PublishBatch(&ctx, req, &res);
  if (!s.ok()) {
    std::fprintf(stderr, "publish: %s\n", s.error_message().c_str());
    std::exit(1);
  }
  return res.results(res.results_size() - 1).id();
}

void FanOut(int subscribers, int events) {
  Gateway gw = StartGateway({});
  auto stub = v1::Publisher::NewStub(
      grpc::CreateChannel(gw.grpc, grpc::InsecureChannelCredentials()));
  Clients clients(gw.http_port);
  clients.Connect(subscribers, "/v1/events?topic=fan");
  clients.Run();
  if (!WaitFor([&] { return clients.heads() == subscribers; }, absl::Seconds(60))) {
    std::fprintf(stderr, "fanout: only %d of %d connected (%d errors)\n", clients.heads(),
                 subscribers, clients.errors());
    std::exit(1);
  }
  const uint64_t want = static_cast<uint64_t>(subscribers) * static_cast<uint64_t>(events);
  const double cpu0 = CpuSeconds(gw.process->pid());
  const absl::Time t0 = absl::Now();
  for (int sent = 0; sent < events; sent += 100) {
    PublishBatch(*stub, "fan", std::min(100, events - sent), 200);
  }
  const bool done = WaitFor([&] { return clients.deliveries() >= want; }, absl::Seconds(120));
  const absl::Duration elapsed = absl::Now() - t0;
  const double cpu = CpuSeconds(gw.process->pid()) - cpu0;
  clients.Stop();
  const double secs = absl::ToDoubleSeconds(elapsed);
  std::printf(
      "fanout subscribers=%d events=%d x 200B: %s deliveries=%llu in %.3f s = %.0f deliveries/s; "
      "server CPU %.2f s = %.2f us/delivery\n",
      subscribers, events, done ? "complete" : "INCOMPLETE",
      static_cast<unsigned long long>(clients.deliveries()), secs,
      static_cast<double>(clients.deliveries()) / secs, cpu,
      cpu * 1e6 / static_cast<double>(std::max<uint64_t>(1, clients.deliveries())));
  std::fflush(stdout);
}

void Latency(int subscribers, int rate, absl::Duration duration) {
  Gateway gw = StartGateway({});
  auto stub = v1::Publisher::NewStub(
      grpc::CreateChannel(gw.grpc, grpc::InsecureChannelCredentials()));
  Clients clients(gw.http_port);
  clients.set_record_latency(true);
  clients.Connect(subscribers, "/v1/events?topic=lat");
  clients.Run();
  if (!WaitFor([&] { return clients.heads() == subscribers; }, absl::Seconds(60))) {
    std::fprintf(stderr, "latency: not all connected\n");
    std::exit(1);
  }
  const int total = static_cast<int>(rate * absl::ToDoubleSeconds(duration));
  const absl::Time start = absl::Now();
  const double cpu0 = CpuSeconds(gw.process->pid());
  for (int i = 0; i < total; ++i) {
    // Paced: event i goes out at start + i/rate.
    const absl::Time at = start + absl::Seconds(1) * i / rate;
    const absl::Duration wait = at - absl::Now();
    if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
    v1::PublishRequest req;
    req.set_topic("lat");
    req.set_data(EventData(200));
    v1::PublishResponse res;
    grpc::ClientContext ctx;
    grpc::Status s = stub->Publish(&ctx, req, &res);
    if (!s.ok()) {
      std::fprintf(stderr, "publish: %s\n", s.error_message().c_str());
      std::exit(1);
    }
  }
  const uint64_t want = static_cast<uint64_t>(subscribers) * static_cast<uint64_t>(total);
  WaitFor([&] { return clients.deliveries() >= want; }, absl::Seconds(30));
  const double cpu = CpuSeconds(gw.process->pid()) - cpu0;
  clients.Stop();
  Histogram h = clients.TakeHistogram();
  std::printf(
      "latency subscribers=%d rate=%d/s for %s (%d events, %llu deliveries, unary Publish, "
      "durability none): publish->receive p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms; server CPU "
      "%.0f%% of one core\n",
      subscribers, rate, absl::FormatDuration(duration).c_str(), total,
      static_cast<unsigned long long>(h.count), h.PercentileMs(0.5), h.PercentileMs(0.99),
      h.PercentileMs(0.999), 100 * cpu / absl::ToDoubleSeconds(absl::Now() - start));
  std::fflush(stdout);
}

void Storm(int subscribers, int behind) {
  Gateway gw = StartGateway({});
  auto stub = v1::Publisher::NewStub(
      grpc::CreateChannel(gw.grpc, grpc::InsecureChannelCredentials()));
  const uint64_t last = PublishBatch(*stub, "storm", behind, 200);
  Clients clients(gw.http_port);
  clients.WatchId(last);
  const absl::Time t0 = absl::Now();
  clients.Connect(subscribers, "/v1/events?topic=storm",
                  absl::StrCat("Last-Event-ID: ", last - static_cast<uint64_t>(behind), "\r\n"));
  clients.Run();
  const bool done = WaitFor([&] { return clients.watched() == subscribers; }, absl::Seconds(60));
  const absl::Duration elapsed = absl::Now() - t0;
  clients.Stop();
  std::printf(
      "storm clients=%d each %d events behind: %s all live after %.3f s (%llu deliveries, %d "
      "connect/read errors)\n",
      subscribers, behind, done ? "" : "NOT", absl::ToDoubleSeconds(elapsed),
      static_cast<unsigned long long>(clients.deliveries()), clients.errors());
  std::fflush(stdout);
}

}  // namespace
}  // namespace tailgate::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 20000);
  setrlimit(RLIMIT_NOFILE, &lim);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  using namespace tailgate::bench;
  if (mode == "fanout" || mode == "all") {
    FanOut(1000, 2000);
    FanOut(5000, 500);
  }
  if (mode == "latency" || mode == "all") {
    Latency(absl::GetFlag(FLAGS_latency_subscribers), absl::GetFlag(FLAGS_latency_rate),
            absl::Seconds(10));
  }
  if (mode == "storm" || mode == "all") Storm(5000, 100);
  return 0;
}

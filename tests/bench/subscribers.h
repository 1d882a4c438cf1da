// SSE subscribers for the load generator: many connections on ONE io_context
// thread, over HTTP/1.1 (one connection per subscriber) or HTTP/2 with prior
// knowledge (h2c: subscribers spread as streams over a few connections).
//
// Readiness waits and one shared read buffer (no per-connection buffer), a
// chunked decoder (HTTP/1.1) and a line scanner (memchr) that looks only at
// "id:" and "data: t=" lines. Each event's data starts with
// "t=<CLOCK_MONOTONIC ns at publish>", so a receiver computes
// publish-to-receive latency.
//
// Thread-safety: configure (set_*, Watch) before Run()/Connect(); the
// counters and Wait* may be read from any thread; histogram() and ids() once
// Stop() returned (ids() is also safe while running).
#ifndef TAILGATE_TESTS_BENCH_SUBSCRIBERS_H_
#define TAILGATE_TESTS_BENCH_SUBSCRIBERS_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "absl/time/time.h"
#include "tests/bench/bench_util.h"

namespace tailgate::bench {

class Subscribers {
 public:
  // `h2_connections` > 0: HTTP/2 (h2c prior knowledge), subscriber i is a
  // stream on connection i % h2_connections; 0: HTTP/1.1, a connection each.
  Subscribers(const HostPort& server, bool quickack, int h2_connections = 0);
  ~Subscribers();

  // Opens `n` subscribers; `target(i)` is subscriber i's request target and
  // `extra_headers` ("Name: value\r\n" lines) go with every request. HTTP/1.1:
  // at most `window` connections are being set up at once (the next starts
  // when one has its response head); HTTP/2: every stream at once.
  void Connect(int n, std::function<std::string(int)> target, std::string extra_headers,
               int window);

  void Run();
  void Stop();

  void set_record_latency(bool on) { record_latency_ = on; }
  void set_record_ids(bool on) { record_ids_ = on; }
  // Counts subscribers that have received event `id`.
  void Watch(std::string id, int want) {
    watch_id_ = std::move(id);
    watch_want_ = want;
  }

  int heads() const { return heads_.load(); }
  int errors() const { return errors_.load(); }
  int bad_status() const { return bad_status_.load(); }
  int watched() const { return watched_.load(); }
  uint64_t deliveries() const { return deliveries_.load(std::memory_order_relaxed); }
  // When all subscribers had their head / the watched id (ns, MonoNanos); 0 before.
  int64_t all_heads_ns() const { return all_heads_ns_.load(); }
  int64_t all_watched_ns() const { return all_watched_ns_.load(); }
  int64_t connect_started_ns() const { return connect_started_ns_; }
  std::vector<std::string> ids();

  // Blocks until deliveries() >= want or `timeout`; returns whether reached.
  bool WaitDeliveries(uint64_t want, absl::Duration timeout);

  Histogram& histogram() { return hist_; }  // After Stop().

 private:
  using tcp = boost::asio::ip::tcp;
  // One subscriber: its parser state (and, over HTTP/1.1, its connection).
  struct Conn {
    explicit Conn(boost::asio::io_context& ioc) : socket(ioc) {}
    enum class Phase : uint8_t { kHead, kChunkSize, kChunkData, kChunkEnd, kRaw, kDone };
    tcp::socket socket;  // Unused by HTTP/2 streams.
    std::string request;
    std::string head;
    uint64_t chunk_left = 0;
    Phase phase = Phase::kHead;
    bool chunk_ext = false;
    bool watched = false;
    uint8_t line_len = 0;
    char line[46];
  };
  struct H2Conn;

  // HTTP/1.1 (subscribers.cc).
  void ConnectOne();
  // Starts k connections, one per turn of the event loop.
  void OpenWindow(int k);
  void Fail(Conn& c);
  void WaitRead(const std::shared_ptr<Conn>& c);
  void Feed(Conn& c, const char* p, size_t n);

  // HTTP/2 (subscribers_h2.cc).
  void ConnectH2(int n);
  void StartH2(const std::shared_ptr<H2Conn>& h);
  void ReadH2(const std::shared_ptr<H2Conn>& h);
  void FlushH2(const std::shared_ptr<H2Conn>& h);
  void FailH2(H2Conn& h);

  // Both.
  void HeadDone(bool ok);
  void AfterRead(int fd);
  void Body(Conn& c, const char* p, size_t n);
  void Line(Conn& c);

  tcp::endpoint endpoint_;
  boost::asio::io_context ioc_{1};
  std::thread thread_;
  std::array<char, 64 * 1024> buf_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::vector<std::shared_ptr<H2Conn>> h2_conns_;
  std::function<std::string(int)> target_;
  std::string extra_;
  int to_connect_ = 0;
  int64_t connect_started_ns_ = 0;
  bool record_latency_ = false;
  bool record_ids_ = false;
  const bool quickack_;
  const int h2_connections_;
  std::string watch_id_;
  int watch_want_ = 0;
  Histogram hist_;

  std::atomic<int> heads_{0};
  std::atomic<int> errors_{0};
  std::atomic<int> bad_status_{0};
  std::atomic<int> watched_{0};
  std::atomic<uint64_t> deliveries_{0};
  std::atomic<int64_t> all_heads_ns_{0};
  std::atomic<int64_t> all_watched_ns_{0};
  std::atomic<uint64_t> wait_for_{UINT64_MAX};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> ids_;
};

}  // namespace tailgate::bench

#endif  // TAILGATE_TESTS_BENCH_SUBSCRIBERS_H_

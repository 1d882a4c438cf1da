// HTTP/1.1 subscribers (a connection each) and the SSE line scanner both
// transports share. See subscribers.h.
#include "tests/bench/subscribers.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace tailgate::bench {

namespace net = boost::asio;

Subscribers::Subscribers(const HostPort& server, bool quickack, int h2_connections)
    : endpoint_(net::ip::make_address(server.host), static_cast<uint16_t>(server.port)),
      quickack_(quickack),
      h2_connections_(h2_connections) {}

Subscribers::~Subscribers() { Stop(); }

void Subscribers::Connect(int n, std::function<std::string(int)> target,
                          std::string extra_headers, int window) {
  net::post(ioc_, [this, n, target = std::move(target), extra = std::move(extra_headers),
                   window] {
    target_ = target;
    extra_ = extra;
    connect_started_ns_ = MonoNanos();
    if (h2_connections_ > 0) return ConnectH2(n);
    to_connect_ = n;
    OpenWindow(std::min(n, window));
  });
}

void Subscribers::OpenWindow(int k) {
  // One new connection per turn of the event loop, as independent clients
  // would: earlier connections send their requests and read their replies
  // in between. Opening all k in one handler would hold every request back
  // until the last connect() returned, and leave the server idle meanwhile.
  if (k == 0) return;
  ConnectOne();
  net::post(ioc_, [this, k] { OpenWindow(k - 1); });
}

void Subscribers::Run() {
  thread_ = std::thread([this] {
    auto guard = net::make_work_guard(ioc_);
    ioc_.run();
  });
}

void Subscribers::Stop() {
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> Subscribers::ids() {
  std::lock_guard<std::mutex> l(mu_);
  return ids_;
}

bool Subscribers::WaitDeliveries(uint64_t want, absl::Duration timeout) {
  std::unique_lock<std::mutex> l(mu_);
  wait_for_.store(want);
  return cv_.wait_for(l, absl::ToChronoNanoseconds(timeout), [&] { return deliveries() >= want; });
}

void Subscribers::ConnectOne() {
  if (to_connect_ == 0) return;
  const int i = static_cast<int>(conns_.size());
  --to_connect_;
  auto c = std::make_shared<Conn>(ioc_);
  c->request = absl::StrCat("GET ", target_(i), " HTTP/1.1\r\nHost: 127.0.0.1\r\n", extra_,
                            "Accept: text/event-stream\r\n\r\n");
  conns_.push_back(c);
  c->socket.async_connect(endpoint_, [this, c](boost::system::error_code ec) {
    if (ec) return Fail(*c);
    c->socket.set_option(tcp::no_delay(true), ec);
    c->socket.non_blocking(true, ec);
    net::async_write(c->socket, net::buffer(c->request),
                     [this, c](boost::system::error_code ec2, size_t) {
                       if (ec2) return Fail(*c);
                       std::string().swap(c->request);
                       WaitRead(c);
                     });
  });
}

void Subscribers::Fail(Conn& c) {
  ++errors_;
  const bool setting_up = c.phase == Conn::Phase::kHead;
  c.phase = Conn::Phase::kDone;
  if (setting_up) ConnectOne();  // Keep the set-up window full.
}

void Subscribers::WaitRead(const std::shared_ptr<Conn>& c) {
  c->socket.async_wait(tcp::socket::wait_read, [this, c](boost::system::error_code ec) {
    if (ec) return Fail(*c);
    // Drain what is there (bounded, so one busy connection cannot starve others).
    for (int round = 0; round < 4; ++round) {
      boost::system::error_code rec;
      const size_t n = c->socket.read_some(net::buffer(buf_), rec);
      if (rec == net::error::would_block) break;
      if (rec || n == 0) {
        if (c->phase != Conn::Phase::kDone) Fail(*c);
        return;
      }
      Feed(*c, buf_.data(), n);
      if (n < buf_.size()) break;
    }
    AfterRead(c->socket.native_handle());
    WaitRead(c);
  });
}

void Subscribers::AfterRead(int fd) {
  if (quickack_) {
    // ACK at once: a server that leaves Nagle on (nginx does on SSE
    // sockets) would otherwise wait for our delayed ACK (~40 ms) before
    // each small write, and measure the ACK timer instead of itself.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
  }
  uint64_t want = wait_for_.load();
  if (deliveries() >= want && wait_for_.compare_exchange_strong(want, UINT64_MAX)) {
    std::lock_guard<std::mutex> l(mu_);
    cv_.notify_all();
  }
}

void Subscribers::HeadDone(bool ok) {
  if (!ok) ++bad_status_;
  if (++heads_ == static_cast<int>(conns_.size()) && to_connect_ == 0) {
    all_heads_ns_ = MonoNanos();
  }
}

void Subscribers::Feed(Conn& c, const char* p, size_t n) {
  while (n > 0) {
    switch (c.phase) {
      case Conn::Phase::kHead: {
        const char ch = *p++;
        --n;
        c.head.push_back(ch);
        if (ch == '\n' && c.head.size() >= 4 &&
            c.head.compare(c.head.size() - 4, 4, "\r\n\r\n") == 0) {
          const bool ok = c.head.compare(0, 12, "HTTP/1.1 200") == 0;
          const std::string lower = absl::AsciiStrToLower(c.head);
          c.phase = lower.find("transfer-encoding: chunked") != std::string::npos
                        ? Conn::Phase::kChunkSize
                        : Conn::Phase::kRaw;
          std::string().swap(c.head);
          HeadDone(ok);
          ConnectOne();
        }
        break;
      }
      case Conn::Phase::kChunkSize: {
        const char ch = *p++;
        --n;
        if (ch == '\n') {
          c.chunk_ext = false;
          c.phase = c.chunk_left == 0 ? Conn::Phase::kDone : Conn::Phase::kChunkData;
        } else if (ch == ';') {
          c.chunk_ext = true;
        } else if (!c.chunk_ext && ch != '\r') {
          const int v = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
          c.chunk_left = c.chunk_left * 16 + static_cast<uint64_t>(v);
        }
        break;
      }
      case Conn::Phase::kChunkData: {
        const size_t m = static_cast<size_t>(std::min<uint64_t>(n, c.chunk_left));
        Body(c, p, m);
        p += m;
        n -= m;
        c.chunk_left -= m;
        if (c.chunk_left == 0) c.phase = Conn::Phase::kChunkEnd;
        break;
      }
      case Conn::Phase::kChunkEnd: {
        const char ch = *p++;
        --n;
        if (ch == '\n') c.phase = Conn::Phase::kChunkSize;
        break;
      }
      case Conn::Phase::kRaw:
        Body(c, p, n);
        return;
      case Conn::Phase::kDone:
        return;
    }
  }
}

// SSE body bytes: only the first sizeof(line) bytes of each line are kept.
void Subscribers::Body(Conn& c, const char* p, size_t n) {
  while (n > 0) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
    const size_t len = nl ? static_cast<size_t>(nl - p) : n;
    const size_t k = std::min(len, sizeof(c.line) - c.line_len);
    std::memcpy(c.line + c.line_len, p, k);
    c.line_len = static_cast<uint8_t>(c.line_len + k);
    if (nl == nullptr) return;
    Line(c);
    c.line_len = 0;
    p = nl + 1;
    n -= len + 1;
  }
}

void Subscribers::Line(Conn& c) {
  absl::string_view l(c.line, c.line_len);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (absl::ConsumePrefix(&l, "id:")) {
    absl::ConsumePrefix(&l, " ");
    deliveries_.fetch_add(1, std::memory_order_relaxed);
    if (record_ids_) {
      std::lock_guard<std::mutex> lock(mu_);
      ids_.emplace_back(l);
    }
    if (!c.watched && !watch_id_.empty() && l == watch_id_) {
      c.watched = true;
      if (++watched_ == watch_want_) all_watched_ns_ = MonoNanos();
    }
  } else if (record_latency_ && absl::ConsumePrefix(&l, "data: t=")) {
    int64_t t = 0;
    if (absl::SimpleAtoi(l.substr(0, l.find('x')), &t)) hist_.Add(MonoNanos() - t);
  }
}

}  // namespace tailgate::bench

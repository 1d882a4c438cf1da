// The floor for SSE fan-out: the least a server can do per delivery. It
// speaks the subset of nchan's HTTP API that tests/bench/loadgen uses
// (--server=nchan): GET /sub/TOPIC opens an event stream, POST /pub/TOPIC
// publishes the body. Each published event becomes one pre-built chunked
// frame ("id: N\ndata: BODY\n\n" in one chunk, the framing tailgate uses for
// HTTP/1.1), written to each subscriber of the topic with one send(2), and
// nothing else: no log, no ids to resolve, no cache, no batching, no timers.
// One thread, one epoll loop. Its server CPU per delivery is the bound below
// which no SSE server on this kernel can go; tests/bench/compare.sh runs the
// fan-out scenarios against it next to tailgate and nchan.
//
//   sse_floor [--listen_port=0]   # prints "sse_floor ready http=127.0.0.1:PORT"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

ABSL_FLAG(int, listen_port, 0, "loopback port to listen on (0: any)");

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "sse_floor: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

struct Conn {
  int fd = -1;
  std::string in;       // Request bytes not yet handled.
  std::string pending;  // Stream bytes the kernel did not take yet.
  bool subscriber = false;
};

class Floor {
 public:
  explicit Floor(int port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) Die("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) Die("bind");
    if (::listen(listen_fd_, 4096) != 0) Die("listen");
    socklen_t len = sizeof(a);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    epoll_ = ::epoll_create1(0);
    if (epoll_ < 0) Die("epoll_create1");
    Watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD);
  }

  int port() const { return port_; }

  void Run() {
    epoll_event events[256];
    for (;;) {
      const int n = ::epoll_wait(epoll_, events, 256, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          Accept();
          continue;
        }
        auto it = conns_.find(fd);
        if (it == conns_.end()) continue;
        Conn& c = *it->second;
        if (events[i].events & (EPOLLHUP | EPOLLERR)) {
          Close(c);
          continue;
        }
        if (events[i].events & EPOLLOUT) Flush(c);
        if (conns_.count(fd) && (events[i].events & EPOLLIN)) Read(c);
      }
    }
  }

 private:
  void Watch(int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_, op, fd, &ev) != 0) Die("epoll_ctl");
  }

  void Accept() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK);
      if (fd < 0) return;  // EAGAIN, or out of descriptors: try at the next event.
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      conns_.emplace(fd, std::move(c));
      Watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  void Close(Conn& c) {
    const int fd = c.fd;
    if (c.subscriber) {
      for (auto& [topic, fds] : topics_) {
        for (size_t i = 0; i < fds.size(); ++i) {
          if (fds[i] == fd) {
            fds[i] = fds.back();
            fds.pop_back();
            break;
          }
        }
      }
    }
    ::close(fd);
    conns_.erase(fd);
  }

  void Read(Conn& c) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return Close(c);
      if (n < 0) break;
      if (!c.subscriber) c.in.append(buf, static_cast<size_t>(n));
    }
    while (!c.subscriber && Handle(c)) {
    }
  }

  // Handles one complete request in c.in; false when more bytes are needed.
  bool Handle(Conn& c) {
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    const absl::string_view head(c.in.data(), end);
    const std::string line(head.substr(0, head.find("\r\n")));  // c.in changes below
    size_t body = 0;
    const std::string lower = absl::AsciiStrToLower(head);
    if (const size_t cl = lower.find("content-length:"); cl != std::string::npos) {
      absl::string_view v = absl::string_view(lower).substr(cl + 15);
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(v.substr(0, v.find('\r'))), &body);
    }
    if (c.in.size() < end + 4 + body) return false;
    const std::string data = c.in.substr(end + 4, body);
    c.in.erase(0, end + 4 + body);
    if (absl::StartsWith(line, "GET /sub/")) {
      const std::string topic(line.substr(9, line.find(' ', 9) - 9));
      c.subscriber = true;
      topics_[topic].push_back(c.fd);
      Send(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
              "Transfer-Encoding: chunked\r\n\r\n");
      return false;
    }
    if (absl::StartsWith(line, "POST /pub/")) {
      const std::string topic(line.substr(10, line.find(' ', 10) - 10));
      Publish(topic, data);
      Send(c, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
      return true;
    }
    Send(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    return true;
  }

  void Publish(const std::string& topic, const std::string& data) {
    const std::string event = absl::StrCat("id: ", ++last_id_, "\ndata: ", data, "\n\n");
    const std::string frame = absl::StrCat(absl::Hex(event.size()), "\r\n", event, "\r\n");
    auto it = topics_.find(topic);
    if (it == topics_.end()) return;
    // Copied: Send may close a connection, which edits the topic's list.
    const std::vector<int> fds = it->second;
    for (int fd : fds) {
      auto c = conns_.find(fd);
      if (c != conns_.end()) Send(*c->second, frame);
    }
  }

  // One send(2); what the kernel does not take waits for EPOLLOUT.
  void Send(Conn& c, absl::string_view bytes) {
    if (!c.pending.empty()) {
      c.pending.append(bytes.data(), bytes.size());
      return;
    }
    const ssize_t n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Close(c);
    const size_t sent = n < 0 ? 0 : static_cast<size_t>(n);
    if (sent < bytes.size()) {
      c.pending.assign(bytes.data() + sent, bytes.size() - sent);
      Watch(c.fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }
  }

  void Flush(Conn& c) {
    const ssize_t n = ::send(c.fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Close(c);
    if (n > 0) c.pending.erase(0, static_cast<size_t>(n));
    if (c.pending.empty()) Watch(c.fd, EPOLLIN, EPOLL_CTL_MOD);
  }

  int listen_fd_ = -1;
  int epoll_ = -1;
  int port_ = 0;
  uint64_t last_id_ = 0;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::map<std::string, std::vector<int>> topics_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  Floor floor(absl::GetFlag(FLAGS_listen_port));
  std::fprintf(stderr, "sse_floor ready http=127.0.0.1:%d\n", floor.port());
  std::fflush(stderr);
  floor.Run();
}

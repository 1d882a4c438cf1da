// Hostile HTTP clients: slowloris (many connections sending their request
// head one byte at a time) and oversized request heads. The server keeps
// serving a normal client and drops the abusers within the header timeout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "tests/sse/sse_testing.h"
#include "tests/testing/http_client.h"

namespace tailgate::testing {
namespace {

constexpr absl::Duration kHeaderTimeout = absl::Seconds(1);

std::unique_ptr<Gateway> StartHardened() {
  Config c = SseTestConfig();
  c.http.header_timeout = kHeaderTimeout;
  c.http.max_header_bytes = 8 * 1024;
  return StartGateway(c);
}

int ConnectNonBlocking(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect: " << errno;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// True when the peer closed (or reset) the connection; drains readable data.
bool PeerClosed(int fd) {
  char buf[512];
  while (true) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

void ExpectServes(const Gateway& gw) {
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResult> r = HttpFetch("127.0.0.1", gw.http_port(), "GET", "/healthz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500)) << "a normal client was slowed down";
}

TEST(AbuseTest, SlowlorisConnectionsAreDroppedWhileNormalClientsAreServed) {
  std::unique_ptr<Gateway> gw = StartHardened();
  ASSERT_NE(gw, nullptr);
  constexpr int kAbusers = 200;
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  struct Abuser {
    int fd;
    absl::Time opened;
    size_t sent = 0;
    std::optional<absl::Time> closed;
  };
  std::vector<Abuser> abusers;
  for (int i = 0; i < kAbusers; ++i) abusers.push_back({ConnectNonBlocking(gw->http_port()), absl::Now(), 0, std::nullopt});

  const absl::Time deadline = absl::Now() + kHeaderTimeout + absl::Seconds(10);
  int open = kAbusers;
  int normal_requests = 0;
  while (open > 0 && absl::Now() < deadline) {
    for (Abuser& a : abusers) {
      if (a.closed) continue;
      const char byte = a.sent < head.size() ? head[a.sent] : 'a';
      const ssize_t n = send(a.fd, &byte, 1, MSG_NOSIGNAL);
      if (n == 1) ++a.sent;
      if ((n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || PeerClosed(a.fd)) {
        a.closed = absl::Now();
        --open;
      }
    }
    ExpectServes(*gw);
    ++normal_requests;
    // The attack's pace: one byte per connection every 20 ms.
    poll(nullptr, 0, 20);
  }
  EXPECT_EQ(open, 0) << "abusers still connected after " << kHeaderTimeout << " + 10s";
  for (const Abuser& a : abusers) {
    if (!a.closed) continue;
    // The server cut each one within the header timeout (plus scheduling slack).
    EXPECT_LT(*a.closed - a.opened, kHeaderTimeout + absl::Seconds(3));
    EXPECT_GT(*a.closed - a.opened, kHeaderTimeout - absl::Milliseconds(100));
    close(a.fd);
  }
  EXPECT_GT(normal_requests, 5);
  ExpectServes(*gw);
}

// Sends `request` (ignoring a reset once the server has answered) and
// returns everything the server sent until it closed.
std::string SendAndReadAll(int port, const std::string& request) {
  const int fd = ConnectNonBlocking(port);
  size_t off = 0;
  std::string got;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (off < request.size()) {
      const ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
      if (n > 0) off += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) off = request.size();  // Cut off.
    }
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 50);
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
  }
  close(fd);
  return got;
}

TEST(AbuseTest, OversizedRequestHeadsGet431AndTheConnectionEnds) {
  std::unique_ptr<Gateway> gw = StartHardened();
  ASSERT_NE(gw, nullptr);
  // One huge header line.
  std::string request = "GET /v1/events?topic=a HTTP/1.1\r\nHost: x\r\nX-Big: " +
                        std::string(1 << 20, 'a') + "\r\n\r\n";
  std::string got = SendAndReadAll(gw->http_port(), request);
  EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got.substr(0, 200);
  ExpectServes(*gw);
  // Many small header lines adding up past the limit.
  request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 2000; ++i) request += "X-H" + std::to_string(i) + ": v\r\n";
  request += "\r\n";
  got = SendAndReadAll(gw->http_port(), request);
  EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got.substr(0, 200);
  // A huge request target.
  got = SendAndReadAll(gw->http_port(),
                       "GET /v1/events?topic=" + std::string(64 * 1024, 'a') + " HTTP/1.1\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got.substr(0, 200);
  ExpectServes(*gw);
}

}  // namespace
}  // namespace tailgate::testing

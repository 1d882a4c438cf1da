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

#include "absl/strings/str_cat.h"
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
// returns everything the server sent until it closed; `*closed` (optional)
// says whether it did close within 10 s.
std::string SendAndReadAll(int port, const std::string& request, bool* closed = nullptr) {
  const int fd = ConnectNonBlocking(port);
  size_t off = 0;
  std::string got;
  if (closed != nullptr) *closed = false;
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
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      if (closed != nullptr) *closed = true;
      break;
    }
  }
  close(fd);
  return got;
}

// How many responses `got` holds (status lines at the start of a line).
int CountResponses(const std::string& got) {
  int n = 0;
  for (size_t at = 0; (at = got.find("HTTP/1.", at)) != std::string::npos; ++at) {
    if (at == 0 || got[at - 1] == '\n') ++n;
  }
  return n;
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

// RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked
// has no reliable length. Read as "no body", its body would run as a second
// request that a proxy in front (reading the header differently) never saw:
// request smuggling. It gets one 400, then the connection closes.
TEST(AbuseTest, TransferEncodingNotEndingInChunkedIs400AndClosesWithNoSmuggledRequest) {
  std::unique_ptr<Gateway> gw = StartHardened();
  ASSERT_NE(gw, nullptr);
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const char* te : {"chunked, identity", "xchunked", "identity", "gzip", "chunked;x=1, gzip",
                         "gzip\r\nContent-Length: 0"}) {
    SCOPED_TRACE(te);
    bool closed = false;
    const std::string got = SendAndReadAll(
        gw->http_port(),
        absl::StrCat("GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ", te, "\r\n\r\n",
                     smuggled),
        &closed);
    EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
    EXPECT_EQ(CountResponses(got), 1) << got;
    EXPECT_EQ(got.find("/smuggled"), std::string::npos) << got;
    EXPECT_TRUE(closed) << "the connection stayed open after the 400";
  }
  // HTTP/1.0 has no Transfer-Encoding (RFC 9112 6.1): faulty framing too.
  bool closed = false;
  std::string got = SendAndReadAll(
      gw->http_port(),
      "GET /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, &closed);
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  EXPECT_EQ(CountResponses(got), 1) << got;
  EXPECT_TRUE(closed);
  // Control: a body in chunked framing is read as the body, and a request
  // pipelined after it is answered as the second request it really is.
  got = SendAndReadAll(gw->http_port(),
                       "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                       "5\r\nhello\r\n0\r\n\r\n"
                       "GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_EQ(CountResponses(got), 2) << got;
  EXPECT_NE(got.find("HTTP/1.1 404"), std::string::npos) << got;
  ExpectServes(*gw);
}

// A body over the limit is 413 Content Too Large (431 is for the head).
TEST(AbuseTest, BodyOverTheLimitGets413) {
  std::unique_ptr<Gateway> gw = StartHardened();
  ASSERT_NE(gw, nullptr);
  bool closed = false;
  std::string got = SendAndReadAll(
      gw->http_port(), "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
      &closed);
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  EXPECT_TRUE(closed);
  // Chunked: refused at the first chunk that crosses the limit.
  got = SendAndReadAll(gw->http_port(),
                       "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "20000\r\n" + std::string(0x20000, 'a'),
                       &closed);
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  EXPECT_TRUE(closed);
  ExpectServes(*gw);
}

}  // namespace
}  // namespace tailgate::testing

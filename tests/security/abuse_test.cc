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
#include <thread>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/sse/sse_testing.h"
#include "tests/testing/http_client.h"
#include "tests/testing/sse_client.h"

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

// Connections that connect and say nothing must not take the slots real
// clients need: a connection counts against --max_connections from its
// first byte, and the silent ones wait in a pool of their own (as large),
// the oldest closed when it is full.
TEST(AbuseTest, SilentSocketsDoNotLockRealClientsOut) {
  Config c = SseTestConfig();
  c.http.max_connections = 100;
  // Longer than the test: a silent socket closed in it was evicted, not timed out.
  c.http.header_timeout = absl::Seconds(60);
  std::unique_ptr<Gateway> gw = StartGateway(c);
  ASSERT_NE(gw, nullptr);
  constexpr int kSilent = 250;
  constexpr int kPool = 100;  // max_silent_connections defaults to max_connections.
  std::vector<int> fds;
  for (int i = 0; i < kSilent; ++i) fds.push_back(ConnectNonBlocking(gw->http_port()));
  // The oldest are closed, in order, until kPool are left waiting.
  std::vector<bool> closed(kSilent, false);
  int n_closed = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (n_closed < kSilent - kPool && absl::Now() < deadline) {
    for (int i = 0; i < kSilent; ++i) {
      if (!closed[i] && PeerClosed(fds[i])) {
        closed[i] = true;
        ++n_closed;
      }
    }
    poll(nullptr, 0, 10);
  }
  EXPECT_EQ(n_closed, kSilent - kPool);
  for (int i = 0; i < kSilent - kPool; ++i) EXPECT_TRUE(closed[i]) << "silent socket #" << i;
  for (int i = kSilent - kPool; i < kSilent; ++i) EXPECT_FALSE(closed[i]) << "silent socket #" << i;
  EXPECT_EQ(gw->http_connections(), 0) << "silent sockets took slots";

  // A real client is served at once, and a stream opens, with 100 silent
  // sockets still connected.
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResult> r = HttpFetch("127.0.0.1", gw->http_port(), "GET", "/healthz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  absl::StatusOr<std::unique_ptr<SseClient>> stream =
      SseClient::Connect("127.0.0.1", gw->http_port(), "/v1/events?topic=a");
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->status(), 200);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "a real client waited";
  for (int fd : fds) close(fd);
}

// The body of an HTTP response in `got` (after the head).
std::string BodyOf(const std::string& got) {
  const size_t at = got.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : got.substr(at + 4);
}

// A browser's EventSource refused with an error status goes CLOSED and never
// comes back; a 200 stream that ends makes it reconnect after `retry:`. So a
// busy /v1/events answers with exactly that (and CORS headers, or the
// browser could not read it): a comment saying why, the back-off, the end.
void ExpectRetryLaterStream(const std::string& got, bool closed, const std::string& why) {
  EXPECT_TRUE(closed) << "the refusal did not end";
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  const std::string head = absl::AsciiStrToLower(got.substr(0, got.find("\r\n\r\n")));
  EXPECT_NE(head.find("content-type: text/event-stream"), std::string::npos) << got;
  EXPECT_NE(head.find("access-control-allow-origin: https://app.example"), std::string::npos)
      << got;
  EXPECT_NE(head.find("connection: close"), std::string::npos) << got;
  const std::string body = BodyOf(got);
  std::vector<std::string> lines = absl::StrSplit(body, '\n');
  ASSERT_EQ(lines.size(), 4u) << body;  // comment, retry, blank, "" after the last \n
  EXPECT_EQ(lines[0].rfind(": " + why + "; reconnect in ", 0), 0u) << body;
  ASSERT_EQ(lines[1].rfind("retry: ", 0), 0u) << body;
  int retry_ms = 0;
  ASSERT_TRUE(absl::SimpleAtoi(lines[1].substr(7), &retry_ms)) << body;
  // 5 s (the default busy_retry) plus up to half of it at random.
  EXPECT_GE(retry_ms, 5000);
  EXPECT_LE(retry_ms, 7500);
  EXPECT_NE(lines[0].find(absl::StrCat(retry_ms, " ms")), std::string::npos) << body;
  EXPECT_EQ(lines[2], "");
}

TEST(AbuseTest, FullServerTellsEventSourceToRetryAndOtherEndpointsGet503) {
  Config c = SseTestConfig();
  c.http.max_connections = 2;
  c.sse.cors_origins = {"https://app.example"};
  std::unique_ptr<Gateway> gw = StartGateway(c);
  ASSERT_NE(gw, nullptr);
  std::vector<std::unique_ptr<SseClient>> holders;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<SseClient>> s =
        SseClient::Connect("127.0.0.1", gw->http_port(), "/v1/events?topic=hold");
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_EQ((*s)->status(), 200);
    holders.push_back(*std::move(s));
  }
  bool closed = false;
  const std::string got = SendAndReadAll(
      gw->http_port(),
      "GET /v1/events?topic=a HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
      "Last-Event-ID: 7\r\n\r\n",
      &closed);
  ExpectRetryLaterStream(got, closed, "too many connections");
  // A CORS preflight is still answered (then the connection closes).
  absl::StatusOr<HttpResult> pre =
      HttpFetch("127.0.0.1", gw->http_port(), "OPTIONS", "/v1/events?topic=a",
                {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "GET"}});
  ASSERT_TRUE(pre.ok()) << pre.status();
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->headers["access-control-allow-origin"], "https://app.example");
  // Other endpoints keep their 503.
  absl::StatusOr<HttpResult> r = HttpFetch("127.0.0.1", gw->http_port(), "GET", "/healthz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->headers["retry-after"], "5");
  // A slot frees: streams open again.
  holders.pop_back();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (gw->http_connections() > 1 && absl::Now() < deadline) poll(nullptr, 0, 10);
  absl::StatusOr<std::unique_ptr<SseClient>> again =
      SseClient::Connect("127.0.0.1", gw->http_port(), "/v1/events?topic=a");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->status(), 200);
  // A real stream this time, not a refusal.
  const uint64_t id = Publish(*gw, "a", "after");
  absl::StatusOr<SseEvent> e = (*again)->Next(absl::Seconds(10));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->data, "after");
  EXPECT_EQ(e->last_event_id, absl::StrCat(id));
}

// A request that arrives on a connection while the server drains gets the
// same answer (with a different reason), so the browser reconnects, through
// the load balancer, to another instance.
TEST(AbuseTest, DrainTellsEventSourceToRetry) {
  Config c = SseTestConfig();
  c.sse.cors_origins = {"https://app.example"};
  std::unique_ptr<Gateway> gw = StartGateway(c);
  ASSERT_NE(gw, nullptr);
  absl::StatusOr<std::unique_ptr<SseClient>> stream =
      SseClient::Connect("127.0.0.1", gw->http_port(), "/v1/events?topic=x");
  ASSERT_TRUE(stream.ok()) << stream.status();
  // Half a request head: the connection is mid-request when the drain comes.
  const int fd = ConnectNonBlocking(gw->http_port());
  const std::string first = "GET /v1/events?topic=a HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(send(fd, first.data(), first.size(), MSG_NOSIGNAL), static_cast<ssize_t>(first.size()));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (gw->http_connections() < 2 && absl::Now() < deadline) poll(nullptr, 0, 10);
  ASSERT_EQ(gw->http_connections(), 2);
  std::thread shutdown([&gw] { gw->Shutdown(); });
  // The open stream ends once the drain has begun.
  absl::StatusOr<SseEvent> e = (*stream)->Next(absl::Seconds(10));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kOutOfRange) << e.status();
  const std::string rest = "Origin: https://app.example\r\n\r\n";
  ASSERT_EQ(send(fd, rest.data(), rest.size(), MSG_NOSIGNAL), static_cast<ssize_t>(rest.size()));
  std::string got;
  bool closed = false;
  const absl::Time read_deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < read_deadline) {
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 50);
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      closed = true;
      break;
    }
  }
  close(fd);
  shutdown.join();
  ExpectRetryLaterStream(got, closed, "server is draining");
}

}  // namespace
}  // namespace tailgate::testing

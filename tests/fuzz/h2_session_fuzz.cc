// The HTTP/2 glue (gateway/http/h2_session.cc) as a server sees it: an
// H2Session on one end of a socketpair, arbitrary bytes written into the
// other end, everything the session writes back read and thrown away, then
// the peer's end shut down (EOF) and finally closed. libnghttp2 is Debian's
// (not instrumented): what is fuzzed is our callbacks, stream bookkeeping,
// routing, the StreamSink data provider, drain and close paths under
// whatever frames nghttp2 lets through.
//
// Input: a mode byte, then the bytes the client sends.
//   bit 0: prepend the connection preface (else the input must carry its own)
//   bit 1: the server drains (GOAWAY) after the first part was processed
//   bit 2: --max_connections=2 (HTTP/2 streams count against it: busy answers)
//   bits 3-7: how many bytes (x 8) of the input are `initial` (the bytes the
//   HTTP/1.1 sniffer already read and hands to Start) instead of the socket;
//   the socket part is itself written in two halves with the session run in
//   between.
//
// Routes (a small stand-in for the gateway's): plain /healthz; a stream
// route /v1/events that takes the stream over as a StreamSink and writes a
// head, then events of growing size (flow control), then ends (a query
// containing "refuse" gets a 400 instead); /v1/h1 a stream route without a
// sink takeover (RST_STREAM HTTP_1_1_REQUIRED); async /v1/publish (1 KiB
// body limit) answering later from a posted handler.
//
// Properties: no crash, leak or sanitizer report; once the peer has closed,
// the session ends (nothing keeps it alive without an event loop turn).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "gateway/diag/logging.h"
#include "gateway/http/connection_tracker.h"
#include "gateway/http/h2_session.h"
#include "gateway/http/http_server.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tailgate::ConnectionSlot;
using tailgate::HttpConfig;
using tailgate::HttpRequest;
using tailgate::HttpResponse;
using tailgate::HttpRouter;
using tailgate::StreamSink;

// One taken-over SSE-like stream: head + 3 events, each written after the
// previous write completed, then End. Lives as long as its callbacks.
struct SinkWriter : std::enable_shared_from_this<SinkWriter> {
  std::shared_ptr<StreamSink> sink;
  std::string buf;
  int step = 0;
  bool ended = false;

  void Next() {
    if (ended) return;
    switch (step++) {
      case 0:
        buf = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: keep-alive\r\n"
              "Cache-Control: no-store\r\n\r\nretry: 3000\n\n";
        break;
      case 1:
        buf = "id: 1\ndata: small\n\n";
        break;
      case 2:
        buf = "id: 2\ndata: " + std::string(70000, 'x') + "\n\n";  // Past the 64 KiB window.
        break;
      default:
        ended = true;
        sink->End();
        return;
    }
    sink->AsyncWrite({net::buffer(buf)}, [self = shared_from_this()](boost::beast::error_code ec) {
      if (ec) {
        self->ended = true;
        self->sink->End();
        return;
      }
      self->Next();
    });
  }
};

std::shared_ptr<const HttpRouter> MakeRouter() {
  auto r = std::make_shared<HttpRouter>();
  r->Handle("/healthz", [](const HttpRequest& req) {
    return tailgate::TextResponse(req, http::status::ok, "ok\n");
  });
  r->HandleStream(
      "/v1/events",
      [](const HttpRequest& req) {
        tailgate::StreamDecision d;
        if (std::string_view(req.target()).find("refuse") != std::string_view::npos) {
          d.refusal = tailgate::TextResponse(req, http::status::bad_request, "no\n");
          return d;
        }
        d.sink_takeover = [](std::shared_ptr<StreamSink> sink) {
          auto w = std::make_shared<SinkWriter>();
          w->sink = sink;
          sink->OnPeerClosed(w, [](const std::shared_ptr<void>& owner) {
            static_cast<SinkWriter*>(owner.get())->ended = true;
          });
          sink->OnDrain(w, [](const std::shared_ptr<void>& owner) {
            auto* writer = static_cast<SinkWriter*>(owner.get());
            writer->ended = true;
            writer->sink->End();
          });
          (void)sink->peer();
          w->Next();
        };
        return d;
      },
      [](const HttpRequest& req, bool) {
        return tailgate::TextResponse(req, http::status::ok, "retry: 5000\n\n");
      });
  r->HandleStream("/v1/h1", [](const HttpRequest&) { return tailgate::StreamDecision{}; });
  tailgate::AsyncRoute publish;
  publish.max_body_bytes = 1024;
  publish.handler = [](HttpRequest req, tailgate::HttpRespond respond) {
    HttpResponse res = tailgate::TextResponse(req, http::status::ok,
                                              "{\"bytes\":" + std::to_string(req.body().size()) +
                                                  "}\n");
    respond(std::move(res));
  };
  publish.too_large = [](const HttpRequest& req) {
    return tailgate::TextResponse(req, http::status::payload_too_large, "too large\n");
  };
  r->HandleAsync("/v1/publish", std::move(publish));
  return r;
}

HttpConfig MakeConfig(bool tight) {
  HttpConfig c;
  // No timer may fire during one execution: the session must end by EOF.
  c.header_timeout = absl::Hours(1);
  c.write_timeout = absl::Hours(1);
  c.max_connections = tight ? 2 : 10000;
  c.http2_max_streams = 100;
  return c;
}

// Reads whatever the session wrote; false once the socket has nothing.
bool Drain(int fd) {
  char buf[65536];
  bool any = false;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return any;
    any = true;
  }
}

void WriteAll(int fd, std::string_view data, net::io_context& ioc) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) return;  // The session closed its end.
    // Socket buffer full: let the session read (and drain what it wrote).
    ioc.poll();
    Drain(fd);
  }
}

// Runs the session until nothing is ready and nothing more came out.
void Settle(net::io_context& ioc, int fd) {
  for (int i = 0; i < 10000; i++) {
    ioc.restart();
    const size_t ran = ioc.poll();
    const bool drained = Drain(fd);
    if (ran == 0 && !drained) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tailgate::SetLogOptions({tailgate::LogLevel::kError, false});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::shared_ptr<const HttpRouter> router = MakeRouter();
  static const HttpConfig config = MakeConfig(false);
  static const HttpConfig tight = MakeConfig(true);
  const uint8_t mode = data[0];
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode & 1) input.insert(0, tailgate::http2::kPreface);
  const size_t initial_len = std::min<size_t>(input.size(), (mode >> 3) * 8u);

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  std::weak_ptr<tailgate::http2::H2Session> weak;
  auto tracker = std::make_shared<ConnectionSlot::Tracker>();
  {
    net::io_context ioc;
    net::ip::tcp::socket sock(ioc);
    boost::system::error_code ec;
    sock.assign(net::ip::tcp::v4(), fds[0], ec);
    FUZZ_CHECK(!ec);
    tracker->open = 1;
    auto slot = std::make_shared<ConnectionSlot>(tracker);
    auto counts = std::make_shared<tailgate::http2::H2Counts>();
    auto session = std::make_shared<tailgate::http2::H2Session>(
        tailgate::HttpStream(std::move(sock)), (mode & 4) ? tight : config, router,
        std::move(slot), false, counts);
    weak = session;
    session->Start(input.substr(0, initial_len));
    session.reset();
    Settle(ioc, fds[1]);

    std::string_view rest = std::string_view(input).substr(initial_len);
    const size_t half = rest.size() / 2;
    WriteAll(fds[1], rest.substr(0, half), ioc);
    Settle(ioc, fds[1]);
    if (mode & 2) {
      // What HttpServer::Drain does: every connection's drain hook.
      std::vector<std::pair<std::shared_ptr<void>, ConnectionSlot::DrainFn>> hooks;
      {
        std::lock_guard lock(tracker->mu);
        tracker->draining = true;
        ConnectionSlot::Tracker::TakeHooksLocked(tracker.get(), &hooks);
      }
      for (auto& [owner, hook] : hooks) hook(owner);
      hooks.clear();
      Settle(ioc, fds[1]);
    }
    WriteAll(fds[1], rest.substr(half), ioc);
    Settle(ioc, fds[1]);
    ::shutdown(fds[1], SHUT_WR);  // EOF: the session closes.
    Settle(ioc, fds[1]);
    ::close(fds[1]);  // Writes still pending now fail.
    for (int i = 0; i < 10000; i++) {
      ioc.restart();
      if (ioc.poll() == 0) break;
    }
    // With the peer gone and nothing left to run, nothing holds the session.
    FUZZ_CHECK(weak.expired());
    FUZZ_CHECK(counts->connections.load() == 0);
    FUZZ_CHECK(counts->streams.load() == 0);
  }
  FUZZ_CHECK(tracker->open == 0);
  return 0;
}

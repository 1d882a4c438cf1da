// The HTTP/1.1 front door (Boost.Beast): accepts connections, reads requests
// with size and time limits, and routes them.
//
// Plain routes answer with a complete response and keep the connection alive.
// Stream routes (SSE) either refuse a request with a complete response or
// take the connection over: the takeover receives the socket and the
// connection's slot and owns them from then on.
//
// TLS when HttpConfig::tls_cert_file/tls_key_file are set: the handshake
// must complete within header_timeout, like the request head after it.
//
// Connections are counted: past HttpConfig::max_connections a request gets
// 503 + Retry-After (a stream route may answer in its own way, see
// BusyHandler). Drain() stops accepting and asks every connection to end
// (idle keep-alive connections close, streams run their drain hook).
//
// A connection counts against max_connections only from its first byte
// (request or TLS ClientHello). Until then it is "silent" and held in a
// separate pool of max_silent_connections: when that pool is full the oldest
// silent connection is closed to admit the new one. So sockets that connect
// and say nothing (an attack, or browsers' speculative preconnects) cannot
// take the slots real clients need, and a client that speaks at once (every
// real one does, within a round trip) is not evicted unless silent
// connections arrive faster than the pool turns over. A silent connection is
// closed after header_timeout, like a slow request head.
//
// Threading: `threads` io_context threads; each connection runs on its own
// strand, so a connection's handlers never run concurrently. Handlers run on
// those threads and must not block.
#ifndef TAILGATE_GATEWAY_HTTP_HTTP_SERVER_H_
#define TAILGATE_GATEWAY_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/intrusive/list_hook.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/config.h"
#include "gateway/http/http_stream.h"
#include "gateway/http/stream_sink.h"

namespace tailgate {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// One open connection's place in the server's count. Released (and the count
// decremented) when destroyed. Thread-safe.
class ConnectionSlot {
 public:
  struct Tracker;
  explicit ConnectionSlot(std::shared_ptr<Tracker> tracker);
  ~ConnectionSlot();
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

  // Calls `hook(owner)` once when the server starts draining (at once if it
  // already is), on the draining thread, with `owner` (what serves the
  // connection) pinned for the call; never once the owner is gone. The hook
  // should post to the connection's strand. Replaces an earlier hook.
  using DrainFn = void (*)(const std::shared_ptr<void>& owner);
  void OnDrain(std::weak_ptr<void> owner, DrainFn hook);
  bool draining() const;

 private:
  std::shared_ptr<Tracker> tracker_;
  // The tracker's list of slots with a drain hook (no allocation per
  // connection); guarded by Tracker::mu.
  boost::intrusive::list_member_hook<> drain_link_;
  std::weak_ptr<void> owner_;
  DrainFn hook_ = nullptr;
};

// A complete response for a request. Runs on the connection's strand.
using PlainHandler = std::function<HttpResponse(const HttpRequest&)>;

// Takes a connection over. Runs on the connection's strand (the stream's
// executor), which the taker must keep using. The stream (plain or TLS, its
// handshake done) has no expiry set.
using StreamTakeover =
    std::function<void(HttpStream stream, std::shared_ptr<ConnectionSlot> slot)>;
// Takes one HTTP/2 stream over (gateway/http/h2_sink.cc): the route writes its
// response to the sink. Runs on the connection's strand, which the taker
// must keep using.
using SinkTakeover = std::function<void(std::shared_ptr<StreamSink> sink)>;
// A stream route's answer to a request: a refusal (sent as a plain response)
// or a takeover: `takeover` for an HTTP/1.1 connection, `sink_takeover` for
// an HTTP/2 stream (without one, HTTP/2 clients are told to use HTTP/1.1).
struct StreamDecision {
  std::optional<HttpResponse> refusal;
  StreamTakeover takeover;
  SinkTakeover sink_takeover;
};
// Decides on a GET for a stream route. Runs on the connection's strand.
using StreamHandler = std::function<StreamDecision(const HttpRequest&)>;
// A stream route's answer to a GET the server cannot take: it is full
// (max_connections) or `draining`. The server sends it with Connection:
// close. Without one: 503 + Retry-After. Runs on the connection's strand.
using BusyHandler = std::function<HttpResponse(const HttpRequest&, bool draining)>;

// Sends the response to a request handled asynchronously. Call it once, from
// any thread (e.g. a log committer's); the response is written on the
// connection's strand. Later calls are ignored. Until it is called (or every
// copy is destroyed) the connection waits, and HttpServer::Stop waits for it.
using HttpRespond = std::function<void(HttpResponse)>;
// A route whose response comes later: the handler runs on the connection's
// strand, must not block, and hands `respond` on to whatever completes the
// work. It takes every method of its path.
struct AsyncRoute {
  std::function<void(HttpRequest request, HttpRespond respond)> handler;
  // Largest request body read for this route (Content-Length or chunked);
  // other routes read at most kDefaultMaxBodyBytes.
  size_t max_body_bytes = 0;
  // The answer to a request whose body is larger than max_body_bytes (only
  // its head was read; the connection closes after it).
  std::function<HttpResponse(const HttpRequest& head)> too_large;
};
inline constexpr size_t kDefaultMaxBodyBytes = 64 * 1024;

// Routes by exact path (query string ignored). Configure before Start; read-only after.
// A stream route takes GET; other methods on its path go to a plain route of
// the same path if there is one (e.g. for OPTIONS), else 405.
class HttpRouter {
 public:
  void Handle(std::string path, PlainHandler handler);
  void HandleStream(std::string path, StreamHandler handler, BusyHandler busy = nullptr);
  void HandleAsync(std::string path, AsyncRoute route);

  const PlainHandler* FindPlain(std::string_view path) const;
  const StreamHandler* FindStream(std::string_view path) const;
  // The stream route's BusyHandler, or null.
  const BusyHandler* FindBusy(std::string_view path) const;
  const AsyncRoute* FindAsync(std::string_view path) const;
  // The complete answer to a request at `path` that no stream or async route
  // took (HTTP/1.1 and HTTP/2 alike): the plain route's response, 405 for a
  // stream route asked with another method than GET, else 404.
  HttpResponse PlainResponse(const HttpRequest& request, std::string_view path) const;
  // The largest body any route reads.
  size_t max_body_bytes() const { return max_body_bytes_; }

  // Observes the status of every complete response the server writes
  // (plain routes, stream refusals, 404/405/431/503...; not a stream that
  // was taken over), on the connection's strand. Must be cheap (metrics).
  void OnResponse(std::function<void(unsigned status)> observer) {
    response_observer_ = std::move(observer);
  }
  void ObserveResponse(unsigned status) const {
    if (response_observer_) response_observer_(status);
  }

 private:
  std::map<std::string, PlainHandler, std::less<>> plain_;
  std::map<std::string, StreamHandler, std::less<>> stream_;
  std::map<std::string, BusyHandler, std::less<>> busy_;
  std::map<std::string, AsyncRoute, std::less<>> async_;
  size_t max_body_bytes_ = kDefaultMaxBodyBytes;
  std::function<void(unsigned status)> response_observer_;
};

// A short text/plain response with the standard headers.
HttpResponse TextResponse(const HttpRequest& request, boost::beast::http::status status,
                          std::string body);

namespace http2 {
struct H2Counts;
}  // namespace http2

class HttpServer {
 public:
  // Binds and starts accepting on config.listen with config.threads threads;
  // with TLS when config.tls_cert_file is set (INVALID_ARGUMENT naming the
  // flag when the certificate or key cannot be loaded).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpConfig& config,
                                                           std::shared_ptr<const HttpRouter> router);
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  boost::asio::io_context& io_context() { return ioc_; }

  // Open connections (streams included) that sent their first byte: the
  // ones max_connections counts.
  int open_connections() const;
  // Of those, HTTP/2 connections, and the request streams open on them
  // (SSE ones included).
  int http2_connections() const;
  int http2_streams() const;
  // Accepted connections that have not sent a byte yet.
  int silent_connections() const;

  // Stops accepting new connections; open ones continue.
  void StopAccepting();
  // Stops accepting and asks every connection to end: idle keep-alive
  // connections close, responses in progress end with Connection: close,
  // stream routes run their slot's drain hook. Returns at once.
  void Drain();
  // Waits until no connection is open or `deadline`; true when none is.
  bool WaitIdle(absl::Time deadline);
  // Waits until every pending asynchronous response (HttpRespond) was sent
  // or dropped, then stops the event loop and joins its threads; open
  // connections are closed.
  void Stop();

 private:
  class Listener;
  HttpServer(const HttpConfig& config, std::shared_ptr<const HttpRouter> router);

  HttpConfig config_;
  std::shared_ptr<const HttpRouter> router_;
  std::shared_ptr<ConnectionSlot::Tracker> tracker_;
  std::shared_ptr<http2::H2Counts> h2_counts_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // null: plaintext
  boost::asio::io_context ioc_;
  std::shared_ptr<Listener> listener_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::string address_;
  std::atomic<bool> stopped_{false};
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_HTTP_HTTP_SERVER_H_

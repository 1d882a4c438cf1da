// The HTTP/1.1 front door (Boost.Beast): accepts connections, reads requests
// with size and time limits, and routes them.
//
// Plain routes answer with a complete response and keep the connection alive.
// Stream routes take the connection over (SSE): the handler receives the
// socket and the request and owns them from then on.
//
// Threading: `threads` io_context threads; each connection runs on its own
// strand, so a connection's handlers never run concurrently. Handlers run on
// those threads and must not block.
#ifndef TAILGATE_GATEWAY_HTTP_SERVER_H_
#define TAILGATE_GATEWAY_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "absl/status/statusor.h"
#include "gateway/config.h"

namespace tailgate {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// A complete response for a request. Runs on the connection's strand.
using PlainHandler = std::function<HttpResponse(const HttpRequest&)>;
// Takes the connection over. Runs on the connection's strand (the stream's
// executor); the handler must keep using that executor.
using StreamHandler = std::function<void(boost::beast::tcp_stream stream, HttpRequest request)>;

// Routes by exact path (query string ignored). Configure before Start; read-only after.
class HttpRouter {
 public:
  void Handle(std::string path, PlainHandler handler);
  void HandleStream(std::string path, StreamHandler handler);

  // A response for requests no route takes: 404, or 405 for a known path.
  const PlainHandler* FindPlain(std::string_view path) const;
  const StreamHandler* FindStream(std::string_view path) const;

 private:
  std::map<std::string, PlainHandler, std::less<>> plain_;
  std::map<std::string, StreamHandler, std::less<>> stream_;
};

// A short text/plain response with the standard headers.
HttpResponse TextResponse(const HttpRequest& request, boost::beast::http::status status,
                          std::string body);

class HttpServer {
 public:
  // Binds and starts accepting on config.listen with config.threads threads.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpConfig& config,
                                                           std::shared_ptr<const HttpRouter> router);
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  boost::asio::io_context& io_context() { return ioc_; }

  // Stops accepting new connections; open ones continue.
  void StopAccepting();
  // Stops the event loop and joins its threads; open connections are closed.
  void Stop();

 private:
  class Listener;
  HttpServer(const HttpConfig& config, std::shared_ptr<const HttpRouter> router);

  HttpConfig config_;
  std::shared_ptr<const HttpRouter> router_;
  boost::asio::io_context ioc_;
  std::shared_ptr<Listener> listener_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::string address_;
  std::atomic<bool> stopped_{false};
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_HTTP_SERVER_H_

#include "gateway/http/http_server.h"

#include <chrono>
#include <mutex>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/diag/logging.h"
#include "gateway/http/connection_tracker.h"
#include "gateway/http/h2_session.h"
#include "gateway/http/http_session.h"
#include "gateway/http/net.h"

namespace tailgate {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

void HttpRouter::Handle(std::string path, PlainHandler handler) {
  plain_[std::move(path)] = std::move(handler);
}

void HttpRouter::HandleStream(std::string path, StreamHandler handler, BusyHandler busy) {
  if (busy) busy_[path] = std::move(busy);
  stream_[std::move(path)] = std::move(handler);
}

const BusyHandler* HttpRouter::FindBusy(std::string_view path) const {
  auto it = busy_.find(path);
  return it == busy_.end() ? nullptr : &it->second;
}

void HttpRouter::HandleAsync(std::string path, AsyncRoute route) {
  max_body_bytes_ = std::max(max_body_bytes_, route.max_body_bytes);
  async_[std::move(path)] = std::move(route);
}

const AsyncRoute* HttpRouter::FindAsync(std::string_view path) const {
  auto it = async_.find(path);
  return it == async_.end() ? nullptr : &it->second;
}

const PlainHandler* HttpRouter::FindPlain(std::string_view path) const {
  auto it = plain_.find(path);
  return it == plain_.end() ? nullptr : &it->second;
}

const StreamHandler* HttpRouter::FindStream(std::string_view path) const {
  auto it = stream_.find(path);
  return it == stream_.end() ? nullptr : &it->second;
}

HttpResponse HttpRouter::PlainResponse(const HttpRequest& request, std::string_view path) const {
  if (const PlainHandler* h = FindPlain(path)) return (*h)(request);
  if (FindStream(path) != nullptr) {
    HttpResponse response =
        TextResponse(request, http::status::method_not_allowed, "method not allowed: use GET\n");
    response.set(http::field::allow, "GET");
    return response;
  }
  return TextResponse(request, http::status::not_found,
                      "not found: " + std::string(path) + "\n");
}

HttpResponse TextResponse(const HttpRequest& request, http::status status, std::string body) {
  HttpResponse res{status, request.version()};
  res.set(http::field::server, "tailgate");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(request.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

class HttpServer::Listener : public std::enable_shared_from_this<HttpServer::Listener> {
 public:
  Listener(net::io_context& ioc, const HttpConfig& config,
           std::shared_ptr<const HttpRouter> router,
           std::shared_ptr<ConnectionSlot::Tracker> tracker,
           std::shared_ptr<net::ssl::context> tls, std::shared_ptr<http2::H2Counts> h2_counts)
      : tls_(std::move(tls)),
        h2_counts_(std::move(h2_counts)),
        ioc_(ioc),
        acceptor_(net::make_strand(ioc)),
        backoff_(acceptor_.get_executor()),
        config_(config),
        router_(std::move(router)),
        tracker_(std::move(tracker)) {}

  absl::Status Bind(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot listen: ", ec.message()));
    return absl::OkStatus();
  }

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  void Start() { DoAccept(); }

  void Stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->backoff_.cancel();
    });
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // EMFILE and friends: usually transient; pause briefly instead of spinning.
      if (uint64_t held = 0; accept_log_.Admit(&held)) {
        TG_LOG(WARNING) << "accept: " << ec.message() << Held(held);
      }
      backoff_.expires_after(std::chrono::milliseconds(50));
      backoff_.async_wait([self = shared_from_this()](beast::error_code wec) {
        if (!wec && self->acceptor_.is_open()) self->DoAccept();
      });
      return;
    }
    beast::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    HttpStream stream = tls_ ? HttpStream(std::move(socket), tls_) : HttpStream(std::move(socket));
    StartHttpSession(std::move(stream), config_, router_, tracker_, h2_counts_);
    DoAccept();
  }

  std::shared_ptr<net::ssl::context> tls_;
  std::shared_ptr<http2::H2Counts> h2_counts_;
  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer backoff_;
  LogThrottle accept_log_{absl::Seconds(10)};  // Out of descriptors: 20 failures a second.
  const HttpConfig& config_;
  std::shared_ptr<const HttpRouter> router_;
  std::shared_ptr<ConnectionSlot::Tracker> tracker_;
};

namespace {

// A TLS 1.2+ server context with the configured certificate chain and key.
absl::StatusOr<std::shared_ptr<net::ssl::context>> MakeTlsContext(const HttpConfig& config) {
  if (config.tls_cert_file.empty() || config.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--http_tls_cert and --http_tls_key must be given together");
  }
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                   ec);
  if (ec) return absl::InternalError(absl::StrCat("TLS context: ", ec.message()));
  ctx->use_certificate_chain_file(config.tls_cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("--http_tls_cert=", config.tls_cert_file,
                                                   ": cannot load: ", ec.message()));
  }
  ctx->use_private_key_file(config.tls_key_file, net::ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("--http_tls_key=", config.tls_key_file,
                                                   ": cannot load: ", ec.message()));
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http_tls_key=", config.tls_key_file, ": does not match the certificate in --http_tls_cert"));
  }
  if (config.http2) http2::EnableAlpnH2(ctx->native_handle());
  return ctx;
}

}  // namespace

HttpServer::HttpServer(const HttpConfig& config, std::shared_ptr<const HttpRouter> router)
    : config_(config),
      router_(std::move(router)),
      tracker_(std::make_shared<ConnectionSlot::Tracker>()),
      h2_counts_(std::make_shared<http2::H2Counts>()) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpConfig& config, std::shared_ptr<const HttpRouter> router) {
  absl::StatusOr<HostPort> hp = ParseHostPort(config.listen, "http_listen");
  if (!hp.ok()) return hp.status();
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(hp->host, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("--http_listen=", config.listen, ": '",
                                                   hp->host, "' is not an IP address"));
  }
  std::unique_ptr<HttpServer> server(new HttpServer(config, std::move(router)));
  if (!config.tls_cert_file.empty() || !config.tls_key_file.empty()) {
    absl::StatusOr<std::shared_ptr<net::ssl::context>> tls = MakeTlsContext(config);
    if (!tls.ok()) return tls.status();
    server->tls_ = *std::move(tls);
  }
  server->listener_ = std::make_shared<Listener>(server->ioc_, server->config_, server->router_,
                                                 server->tracker_, server->tls_,
                                                 server->h2_counts_);
  if (absl::Status s = server->listener_->Bind(tcp::endpoint(address, hp->port)); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("--http_listen=", config.listen, ": ", s.message()));
  }
  server->port_ = server->listener_->local_endpoint().port();
  server->address_ = FormatHostPort(hp->host, server->port_);
  server->listener_->Start();
  int threads = config.threads > 0 ? config.threads
                                   : static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  for (int i = 0; i < threads; ++i) {
    server->threads_.emplace_back([ioc = &server->ioc_] {
      // Keeps run() alive while no connection or accept is pending.
      auto guard = net::make_work_guard(*ioc);
      ioc->run();
    });
  }
  return server;
}

int HttpServer::http2_connections() const {
  return h2_counts_->connections.load(std::memory_order_relaxed);
}

int HttpServer::http2_streams() const {
  return h2_counts_->streams.load(std::memory_order_relaxed);
}

int HttpServer::open_connections() const {
  std::unique_lock lock(tracker_->mu);
  return tracker_->open;
}

void HttpServer::StopAccepting() {
  if (listener_) listener_->Stop();
}

int HttpServer::silent_connections() const {
  std::unique_lock lock(tracker_->mu);
  return static_cast<int>(tracker_->silent.size());
}

void HttpServer::Drain() {
  StopAccepting();
  // Each hooked connection's owner, pinned: the hooks run outside the mutex
  // (a connection may end, and release its slot, at any moment).
  std::vector<std::pair<std::shared_ptr<void>, ConnectionSlot::DrainFn>> hooks;
  std::map<uint64_t, std::function<void()>> silent;
  {
    std::unique_lock lock(tracker_->mu);
    if (tracker_->draining) return;
    tracker_->draining = true;
    ConnectionSlot::Tracker::TakeHooksLocked(tracker_.get(), &hooks);
    silent.swap(tracker_->silent);  // Nothing to finish: they close.
  }
  for (auto& [owner, hook] : hooks) hook(owner);
  hooks.clear();  // Outside the mutex: a last reference may end a connection.
  for (auto& [id, close] : silent) close();
}

bool HttpServer::WaitIdle(absl::Time deadline) {
  std::unique_lock lock(tracker_->mu);
  return tracker_->idle.wait_until(lock, absl::ToChronoTime(deadline),
                                   [t = tracker_.get()] { return t->open == 0; });
}

void HttpServer::Stop() {
  if (stopped_.exchange(true)) return;
  StopAccepting();
  {
    // A pending HttpRespond posts to the event loop: it must still run. They
    // end when the work behind them does (e.g. a log append), not on a client.
    std::unique_lock lock(tracker_->mu);
    tracker_->idle.wait(lock, [t = tracker_.get()] { return t->async_pending == 0; });
  }
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace tailgate

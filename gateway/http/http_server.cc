#include "gateway/http/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <boost/intrusive/list.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/http/h2_session.h"
#include "gateway/diag/logging.h"
#include "gateway/http/net.h"

namespace tailgate {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// The server's count of open connections and their drain hooks.
// std::mutex, not absl::Mutex: visible to ThreadSanitizer with Debian's Abseil.
struct ConnectionSlot::Tracker {
  std::mutex mu;  // Guards the fields below.
  std::condition_variable idle;  // Signalled when `open` drops to 0.
  int open = 0;
  // Asynchronous responses not yet sent or dropped (HttpRespond copies alive).
  int async_pending = 0;
  bool draining = false;
  // Slots with a drain hook.
  boost::intrusive::list<ConnectionSlot,
                         boost::intrusive::member_hook<ConnectionSlot,
                                                       boost::intrusive::list_member_hook<>,
                                                       &ConnectionSlot::drain_link_>>
      hooked;

  // Silent connections (accepted, no byte yet): id -> close hook, oldest
  // first. Not counted in `open`.
  std::map<uint64_t, std::function<void()>> silent;
  uint64_t next_silent_id = 1;

  // Registers a silent connection whose `close` hook ends it (it should post
  // to the connection's strand). When `max` are already silent (max <= 0: no
  // limit), the oldest is closed to make room: an accepted connection always
  // gets its chance to speak. While draining, `close` runs at once and 0 is
  // returned.
  static uint64_t AddSilent(const std::shared_ptr<Tracker>& t, int max,
                            std::function<void()> close) {
    std::function<void()> evicted;  // Run after the lock is released.
    uint64_t id = 0;
    {
      std::lock_guard lock(t->mu);
      if (!t->draining) {
        if (max > 0 && static_cast<int>(t->silent.size()) >= max) {
          evicted = std::move(t->silent.begin()->second);
          t->silent.erase(t->silent.begin());
        }
        id = t->next_silent_id++;
        t->silent.emplace(id, std::move(close));
      }
    }
    if (id == 0) close();
    if (evicted) evicted();
    return id;
  }

  // The connection spoke or ended: no longer silent.
  static void RemoveSilent(const std::shared_ptr<Tracker>& t, uint64_t id) {
    std::function<void()> hook;  // Destroyed after the lock is released.
    std::lock_guard lock(t->mu);
    auto it = t->silent.find(id);
    if (it == t->silent.end()) return;
    hook = std::move(it->second);
    t->silent.erase(it);
  }

  // A slot unless `max` connections are open (max <= 0: no limit).
  static std::shared_ptr<ConnectionSlot> TryAcquire(const std::shared_ptr<Tracker>& t, int max) {
    {
      std::lock_guard lock(t->mu);
      if (max > 0 && t->open >= max) return nullptr;
      ++t->open;
    }
    return std::make_shared<ConnectionSlot>(t);
  }

  // mu held. Empties the list of hooked slots into *out, with each owner
  // that is still there pinned.
  static void TakeHooksLocked(
      Tracker* t, std::vector<std::pair<std::shared_ptr<void>, ConnectionSlot::DrainFn>>* out) {
    for (ConnectionSlot& slot : t->hooked) {
      if (std::shared_ptr<void> owner = slot.owner_.lock()) out->emplace_back(owner, slot.hook_);
    }
    t->hooked.clear();
  }
};

ConnectionSlot::ConnectionSlot(std::shared_ptr<Tracker> tracker) : tracker_(std::move(tracker)) {}

ConnectionSlot::~ConnectionSlot() {
  std::unique_lock lock(tracker_->mu);
  if (drain_link_.is_linked()) tracker_->hooked.erase(tracker_->hooked.iterator_to(*this));
  if (--tracker_->open == 0) tracker_->idle.notify_all();
}

void ConnectionSlot::OnDrain(std::weak_ptr<void> owner, DrainFn hook) {
  {
    std::unique_lock lock(tracker_->mu);
    if (!tracker_->draining) {
      owner_ = std::move(owner);
      hook_ = hook;
      if (!drain_link_.is_linked()) tracker_->hooked.push_back(*this);
      return;
    }
  }
  if (std::shared_ptr<void> pinned = owner.lock()) hook(pinned);
}

bool ConnectionSlot::draining() const {
  std::unique_lock lock(tracker_->mu);
  return tracker_->draining;
}

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

namespace {

std::string_view PathOf(std::string_view target) {
  return target.substr(0, target.find('?'));
}

// One plain HTTP connection: silent until its first byte (see the header),
// then reads requests until one is handed to a stream route, the peer
// closes, a limit is hit, or the server drains. A session that found no slot
// at its first byte (the server is full) answers its request with 503 (or
// the stream route's BusyHandler).
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(HttpStream stream, const HttpConfig& config,
              std::shared_ptr<const HttpRouter> router,
              std::shared_ptr<ConnectionSlot::Tracker> tracker,
              std::shared_ptr<http2::H2Counts> h2_counts)
      : stream_(std::move(stream)),
        config_(config),
        router_(std::move(router)),
        tracker_(std::move(tracker)),
        h2_counts_(std::move(h2_counts)),
        first_byte_timer_(stream_.get_executor()) {}

  void Run() {
    const int max_silent =
        config_.max_silent_connections > 0 ? config_.max_silent_connections : config_.max_connections;
    silent_id_ = ConnectionSlot::Tracker::AddSilent(tracker_, max_silent, [weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        net::post(self->stream_.get_executor(), [self] { self->EndSilence(); });
      }
    });
    // Start on the connection's strand.
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&HttpSession::WaitFirstByte, shared_from_this()));
  }

 private:
  bool Draining() const { return draining_ || (slot_ && slot_->draining()); }

  // Silent: no slot yet. Waits for the socket to become readable (the first
  // byte, or the peer's close) within the header timeout.
  void WaitFirstByte() {
    if (silent_id_ == 0 || silent_ended_) return stream_.close();  // Draining, or evicted.
    first_byte_timer_.expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
    first_byte_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->EndSilence();
    });
    stream_.tcp().socket().async_wait(
        tcp::socket::wait_read,
        beast::bind_front_handler(&HttpSession::OnFirstByte, shared_from_this()));
  }

  // Evicted (the silent pool is full), timed out or drained while silent.
  void EndSilence() {
    if (!silent_ || silent_ended_) return;
    silent_ended_ = true;
    beast::error_code ec;
    stream_.tcp().socket().cancel(ec);  // OnFirstByte closes.
  }

  void OnFirstByte(beast::error_code ec) {
    silent_ = false;
    first_byte_timer_.cancel();
    ConnectionSlot::Tracker::RemoveSilent(tracker_, silent_id_);
    if (ec || silent_ended_) return stream_.close();
    // From here on the connection counts against max_connections.
    slot_ = ConnectionSlot::Tracker::TryAcquire(tracker_, config_.max_connections);
    if (slot_) {
      slot_->OnDrain(weak_from_this(), [](const std::shared_ptr<void>& owner) {
        auto self = std::static_pointer_cast<HttpSession>(owner);
        net::post(self->stream_.get_executor(), [self] { self->OnDrain(); });
      });
    }
    DoHandshake();
  }

  void OnDrain() {
    draining_ = true;
    // Idle between requests (nothing of a next request received, not even
    // in the socket): close now. Mid-request: the response says
    // Connection: close and the connection ends after it.
    beast::error_code ec;
    if (reading_ && buffer_.size() == 0 && stream_.tcp().socket().available(ec) == 0) {
      stream_.tcp().cancel();
    }
  }

  // TLS: the handshake, within the header timeout. Plaintext: straight on.
  void DoHandshake() {
    if (!stream_.is_tls()) return config_.http2 ? Sniff() : DoRead();
    stream_.tcp().expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
    stream_.async_handshake(
        beast::bind_front_handler(&HttpSession::OnHandshake, shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      TG_LOG(DEBUG) << "tls handshake: " << ec.message();
      return stream_.close();
    }
    if (config_.http2 && stream_.alpn() == http2::kAlpnH2) return StartHttp2();
    DoRead();
  }

  // Plaintext: HTTP/2 with prior knowledge starts with the connection
  // preface, which no HTTP/1.1 request does. Reads until the bytes received
  // either differ from it (HTTP/1.1: the parser gets them from buffer_) or
  // hold all of it; mostly a single read, the one HTTP/1.1 would do anyway.
  void Sniff() {
    const auto data = buffer_.data();
    const std::string_view have(static_cast<const char*>(data.data()), data.size());
    const size_t n = std::min(have.size(), http2::kPreface.size());
    if (have.substr(0, n) != http2::kPreface.substr(0, n)) return DoRead();
    if (have.size() >= http2::kPreface.size()) return StartHttp2();
    stream_.tcp().expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](
                                                       beast::error_code ec, std::size_t got) {
      self->buffer_.commit(got);
      if (ec) return self->DoClose();
      self->Sniff();
    });
  }

  // Hands the connection (and its slot) to an HTTP/2 session with the bytes
  // read so far.
  void StartHttp2() {
    std::string initial = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    const bool draining = Draining();
    std::make_shared<http2::H2Session>(std::move(stream_), config_, router_, std::move(slot_),
                                       draining, h2_counts_)
        ->Start(std::move(initial));
  }

  void DoRead() {
    if (Draining()) return DoClose();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
    // The head first, then the body with its route's limit: most requests
    // carry no meaningful body (kDefaultMaxBodyBytes); an async route may
    // take more. Any Content-Length over every route's limit fails the head.
    parser_->body_limit(router_->max_body_bytes());
    stream_.tcp().expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
    reading_ = true;
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    const AsyncRoute* route = router_->FindAsync(PathOf(parser_->get().target()));
    if (ec == http::error::body_limit && route != nullptr && route->too_large) {
      reading_ = false;
      return WriteTooLarge(*route);
    }
    if (ec || parser_->is_done()) return OnRead(ec, 0);
    reading_ = false;  // Mid-request: a drain lets it finish (Connection: close).
    const size_t limit = route != nullptr ? route->max_body_bytes : kDefaultMaxBodyBytes;
    if (const auto length = parser_->content_length(); length && *length > limit) {
      reading_ = false;
      if (route != nullptr && route->too_large) return WriteTooLarge(*route);
      return OnRead(http::error::body_limit, 0);
    }
    parser_->body_limit(limit);  // Counts down for a chunked body.
    // The body gets its own header_timeout.
    stream_.tcp().expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
    if (route != nullptr && beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      // curl and others wait (about a second) for this before sending a larger body.
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue, sizeof(kContinue) - 1),
                       [self = shared_from_this()](beast::error_code wec, std::size_t) {
                         if (wec) return self->OnRead(wec, 0);
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  void WriteTooLarge(const AsyncRoute& route) {
    HttpResponse res = route.too_large(parser_->get());
    res.keep_alive(false);  // The body was not read.
    Write(std::move(res));
  }

  // The response to the request now in hand comes through an HttpRespond.
  void StartAsync(const AsyncRoute& route, HttpRequest request) {
    struct Pending {
      std::shared_ptr<ConnectionSlot::Tracker> tracker;
      std::shared_ptr<HttpSession> session;
      std::atomic<bool> sent{false};
      explicit Pending(std::shared_ptr<HttpSession> s)
          : tracker(s->tracker_), session(std::move(s)) {
        std::lock_guard lock(tracker->mu);
        ++tracker->async_pending;
      }
      ~Pending() {
        std::lock_guard lock(tracker->mu);
        if (--tracker->async_pending == 0) tracker->idle.notify_all();
      }
    };
    auto pending = std::make_shared<Pending>(shared_from_this());
    route.handler(std::move(request), [pending](HttpResponse response) {
      if (pending->sent.exchange(true)) return;
      // HttpServer::Stop waits for `pending`, so the event loop still runs.
      net::post(pending->session->stream_.get_executor(),
                [self = pending->session, response = std::move(response)]() mutable {
                  self->Write(std::move(response));
                });
    });
  }

  void OnRead(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec == http::error::end_of_stream || ec == net::error::eof) return DoClose();
    if (ec) {
      if (const AsyncRoute* route = router_->FindAsync(PathOf(parser_->get().target()));
          ec == http::error::body_limit && route != nullptr && route->too_large) {
        return WriteTooLarge(*route);  // A chunked body that grew past the route's limit.
      }
      if (ec == http::error::header_limit) {
        return SendError(http::status::request_header_fields_too_large,
                         "request headers exceed the size limit\n");
      }
      if (ec == http::error::body_limit) {
        return SendError(http::status::payload_too_large, "request body exceeds the size limit\n");
      }
      if (ec != beast::error::timeout && ec != net::error::operation_aborted) {
        TG_LOG(DEBUG) << "http read: " << ec.message();
        if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
          return SendError(http::status::bad_request,
                           absl::StrCat("malformed HTTP request: ", ec.message(), "\n"));
        }
      }
      return DoClose();
    }
    // RFC 9112 6.3: with Transfer-Encoding, only a final `chunked` gives the
    // body a length. Beast reads any other coding ("chunked, identity",
    // "gzip", "xchunked") as no body, so the body would be parsed as a next
    // request that a proxy in front, framing it differently, never saw
    // (request smuggling). HTTP/1.0 has no Transfer-Encoding at all (6.1).
    // Either way the framing is unreliable: 400, and the connection closes
    // (SendError) without reading further.
    if (parser_->get().count(http::field::transfer_encoding) > 0 &&
        (!parser_->chunked() || parser_->get().version() < 11)) {
      return SendError(http::status::bad_request,
                       "malformed HTTP request: Transfer-Encoding must end in chunked "
                       "(HTTP/1.1 only)\n");
    }
    HttpRequest request = parser_->release();
    const std::string_view path = PathOf(request.target());
    if (!slot_ || Draining()) {
      const bool draining = Draining();
      HttpResponse res;
      const PlainHandler* plain = router_->FindPlain(path);
      if (const BusyHandler* busy = router_->FindBusy(path);
          busy != nullptr && request.method() == http::verb::get) {
        res = (*busy)(request, draining);
      } else if (busy != nullptr && plain != nullptr &&
                 request.method() == http::verb::options) {
        // A stream route's CORS preflight is answered as usual (it holds
        // nothing): a refused preflight would fail the browser's stream
        // for good instead of letting the GET get its busy answer.
        HttpResponse preflight = (*plain)(request);
        preflight.keep_alive(false);
        return Write(std::move(preflight));
      } else {
        res = TextResponse(request, http::status::service_unavailable,
                           draining ? "server is draining; retry on another instance\n"
                                    : "too many connections; retry later\n");
        res.set(http::field::retry_after,
                std::to_string(absl::ToInt64Seconds(config_.retry_after)));
      }
      res.keep_alive(false);
      // Counted as the 503 it stands for, whatever status the route chose.
      return Write(std::move(res), 503);
    }
    if (const StreamHandler* h = router_->FindStream(path);
        h != nullptr && request.method() == http::verb::get) {
      StreamDecision decision = (*h)(request);
      if (decision.refusal) return Write(std::move(*decision.refusal));
      // The takeover owns the connection (and its slot) from here on, and
      // times its own writes.
      stream_.DropTimeouts();
      decision.takeover(std::move(stream_), std::move(slot_));
      return;
    }
    if (const AsyncRoute* route = router_->FindAsync(path)) {
      return StartAsync(*route, std::move(request));
    }
    HttpResponse response;
    if (const PlainHandler* h = router_->FindPlain(path)) {
      response = (*h)(request);
    } else if (router_->FindStream(path) != nullptr) {
      response = TextResponse(request, http::status::method_not_allowed,
                              "method not allowed: use GET\n");
      response.set(http::field::allow, "GET");
    } else {
      response = TextResponse(request, http::status::not_found,
                              "not found: " + std::string(PathOf(request.target())) + "\n");
    }
    Write(std::move(response));
  }

  void SendError(http::status status, std::string body) {
    HttpResponse res{status, 11};
    res.set(http::field::server, "tailgate");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(false);
    res.body() = std::move(body);
    res.prepare_payload();
    Write(std::move(res));
  }

  // `observed_status`: the status metrics count (0: the response's own).
  void Write(HttpResponse response, unsigned observed_status = 0) {
    router_->ObserveResponse(observed_status != 0 ? observed_status : response.result_int());
    if (Draining()) response.keep_alive(false);
    response_ = std::make_shared<HttpResponse>(std::move(response));
    stream_.tcp().expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this(),
                                                response_->need_eof()));
  }

  void OnWrite(bool close, beast::error_code ec, std::size_t) {
    response_.reset();
    if (ec) return;
    if (close) return DoClose();
    DoRead();
  }

  void DoClose() {
    // Bounded: a peer that never answers close_notify is cut at the expiry.
    stream_.tcp().expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      if (self->stream_.is_tls()) self->stream_.close();
    });
  }

  HttpStream stream_;
  const HttpConfig& config_;
  std::shared_ptr<const HttpRouter> router_;
  std::shared_ptr<ConnectionSlot::Tracker> tracker_;
  std::shared_ptr<http2::H2Counts> h2_counts_;
  std::shared_ptr<ConnectionSlot> slot_;  // Null while silent, or when the server was full.
  net::steady_timer first_byte_timer_;
  uint64_t silent_id_ = 0;
  bool silent_ = true;         // No byte received yet.
  bool silent_ended_ = false;  // Evicted, timed out or drained while silent.
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpResponse> response_;
  bool reading_ = false;
  bool draining_ = false;
};

}  // namespace

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
    std::make_shared<HttpSession>(std::move(stream), config_, router_, tracker_, h2_counts_)
        ->Run();
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

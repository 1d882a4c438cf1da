// One accepted connection (see http_session.h).
#include "gateway/http/http_session.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/diag/logging.h"
#include "gateway/http/connection_tracker.h"
#include "gateway/http/h2_session.h"

namespace tailgate {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

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
    Write(router_->PlainResponse(request, path));
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

void StartHttpSession(HttpStream stream, const HttpConfig& config,
                      std::shared_ptr<const HttpRouter> router,
                      std::shared_ptr<ConnectionSlot::Tracker> tracker,
                      std::shared_ptr<http2::H2Counts> h2_counts) {
  std::make_shared<HttpSession>(std::move(stream), config, std::move(router), std::move(tracker),
                                std::move(h2_counts))
      ->Run();
}

}  // namespace tailgate

#include "gateway/http2/h2_session.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/logging.h"

namespace tailgate::http2 {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

// Frames gathered into one socket write stop growing past this: a larger
// write only delays the next read and other streams' turn.
constexpr size_t kMaxWriteBytes = 64 * 1024;

// A request's decoded header list past this many times the advertised
// SETTINGS_MAX_HEADER_LIST_SIZE is not answered with 431 but ends the
// connection: an HPACK bomb (a few bytes of indexed references decoding to
// megabytes) would otherwise have nghttp2 decode all of it, and as often as
// the peer likes. Decoding stops mid-block, so the connection's HPACK state
// is lost: COMPRESSION_ERROR, as nghttp2 answers a single field past its own
// 64 KiB limit.
constexpr size_t kHeaderBombFactor = 4;

// After the connection's last frame (a GOAWAY) the socket's sending side is
// shut down and what the peer still sends is read and dropped for up to
// this long before the socket closes: closing with unread bytes would make
// the kernel answer with a TCP RST, which can destroy the GOAWAY (and its
// error code) before the peer read it.
constexpr auto kLingerTime = std::chrono::seconds(1);
// PINGs and SETTINGS a client may send per second (each costs an ACK).
// Browsers send a handful per connection; a client that reads its ACKs is
// never stopped by nghttp2's outbound-ACK bound, so this one ends it.
constexpr int kMaxControlFramesPerSecond = 100;

// The GOAWAY error code for a failure of nghttp2_session_mem_recv. Floods
// nghttp2 detects (SETTINGS/PING ACKs the peer does not read, more
// CONTINUATION frames than it allows) are excessive load; a header block
// that could not be decoded loses the HPACK context (nghttp2 has queued that
// GOAWAY itself, and a second terminate is a no-op); anything else broke the
// protocol.
uint32_t RecvErrorCode(ssize_t rv) {
  switch (rv) {
    case NGHTTP2_ERR_FLOODED:
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
      return NGHTTP2_ENHANCE_YOUR_CALM;
    case NGHTTP2_ERR_HEADER_COMP:
      return NGHTTP2_COMPRESSION_ERROR;
    default:
      return NGHTTP2_PROTOCOL_ERROR;
  }
}

// HTTP/2 field names are lower case (RFC 9113 8.2.1).
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// RFC 9113 8.2.2: connection-specific fields must not appear in HTTP/2.
bool IsConnectionSpecific(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
         lower_name == "upgrade";
}

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  // Wire format: length-prefixed names, our preference first.
  static constexpr unsigned char kH2[] = "\x02h2";
  static constexpr unsigned char kHttp11[] = "\x08http/1.1";
  for (const unsigned char* want : {kH2, kHttp11}) {
    for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
      if (in[i] == want[0] && i + 1u + in[i] <= inlen &&
          std::equal(in + i + 1, in + i + 1 + in[i], want + 1)) {
        *out = in + i + 1;
        *outlen = in[i];
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  // Neither offered: carry on without ALPN (HTTP/1.1), as before ALPN existed.
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

void EnableAlpnH2(SSL_CTX* ctx) { SSL_CTX_set_alpn_select_cb(ctx, &SelectAlpn, nullptr); }

// One request stream's state: the request as it arrives, then the response
// body as nghttp2 pulls it.
struct H2Session::Stream {
  HttpRequest request;
  size_t header_bytes = 0;
  bool headers_too_large = false;
  size_t body_limit = kDefaultMaxBodyBytes;
  bool body_too_large = false;
  bool dispatched = false;
  // The whole request (HEADERS, CONTINUATIONs, body) within header_timeout,
  // as for HTTP/1.1: a stream stalled mid-request is reset.
  std::unique_ptr<net::steady_timer> request_timer;
  std::string response_body;
  size_t sent = 0;
  // A stream taken over through a StreamSink:
  bool sink = false;
  bool headers_sent = false;
  bool deferred = false;  // The data provider returned NGHTTP2_ERR_DEFERRED.
  bool eof = false;       // End after `pending`.
  std::vector<net::const_buffer> pending;  // The write in flight, unsent part.
  std::function<void(beast::error_code)> done;
  std::function<void()> on_peer_closed;
  std::function<void()> on_drain;
};

// The StreamSink of one HTTP/2 stream. Holds the session weakly: a stream
// outliving its connection sees writes fail.
class H2Sink : public StreamSink {
 public:
  H2Sink(std::weak_ptr<H2Session> session, net::any_io_executor executor, int32_t id,
         std::string peer)
      : session_(std::move(session)), executor_(std::move(executor)), id_(id),
        peer_(std::move(peer)) {}

  net::any_io_executor get_executor() override { return executor_; }
  void AsyncWrite(std::vector<net::const_buffer> buffers,
                  std::function<void(beast::error_code)> done) override {
    if (auto s = session_.lock()) return s->SinkWrite(id_, std::move(buffers), std::move(done));
    net::post(executor_, [done = std::move(done)] { done(net::error::connection_reset); });
  }
  void OnPeerClosed(std::function<void()> hook) override {
    if (Stream* st = Find()) st->on_peer_closed = std::move(hook);
  }
  void OnDrain(std::function<void()> hook) override {
    if (Stream* st = Find()) st->on_drain = std::move(hook);
  }
  void End() override {
    if (auto s = session_.lock()) s->SinkEnd(id_);
  }
  std::string peer() const override { return peer_; }

 private:
  using Stream = H2Session::Stream;
  Stream* Find() {
    auto s = session_.lock();
    if (!s) return nullptr;
    auto it = s->streams_.find(id_);
    return it == s->streams_.end() ? nullptr : it->second.get();
  }
  std::weak_ptr<H2Session> session_;
  net::any_io_executor executor_;
  int32_t id_;
  std::string peer_;
};

namespace {

// Splits an HTTP/1.1 response head ("HTTP/1.1 200 OK\r\nName: value\r\n...\r\n")
// into the status code and lower-cased fields without connection-specific ones.
bool ParseHead(std::string_view head, std::string* status,
               std::vector<std::pair<std::string, std::string>>* fields) {
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return false;
  const std::string_view line = head.substr(0, eol);
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos || line.size() < sp + 4) return false;
  *status = std::string(line.substr(sp + 1, 3));
  head.remove_prefix(eol + 2);
  while (!head.empty() && (eol = head.find("\r\n")) != std::string_view::npos && eol > 0) {
    const std::string_view l = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    const size_t colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = Lower(l.substr(0, colon));
    std::string_view value = l.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (IsConnectionSpecific(name)) continue;
    fields->emplace_back(std::move(name), std::string(value));
  }
  return true;
}

}  // namespace

// nghttp2's C callbacks, forwarding to the session (user_data).
struct H2Callbacks {
  static H2Session* S(void* user_data) { return static_cast<H2Session*>(user_data); }

  static ssize_t Send(nghttp2_session*, const uint8_t*, size_t, int, void*) {
    return NGHTTP2_ERR_CALLBACK_FAILURE;  // Unused: mem_send only.
  }
  static int BeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    return S(ud)->OnBeginHeaders(frame->hd.stream_id);
  }
  static int Header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                    size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;  // Trailers: HEADERS too; ignored below.
    return S(ud)->OnHeader(frame->hd.stream_id,
                           {reinterpret_cast<const char*>(name), namelen},
                           {reinterpret_cast<const char*>(value), valuelen});
  }
  static int DataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                       size_t len, void* ud) {
    return S(ud)->OnDataChunk(stream_id, data, len);
  }
  static int FrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    return S(ud)->OnFrameRecv(frame);
  }
  static int StreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* ud) {
    return S(ud)->OnStreamClose(stream_id);
  }
  static ssize_t ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source*, void* ud) {
    return S(ud)->ReadBody(stream_id, buf, length, flags);
  }
};

H2Session::H2Session(HttpStream stream, const HttpConfig& config,
                     std::shared_ptr<const HttpRouter> router,
                     std::shared_ptr<ConnectionSlot> slot, bool draining,
                     std::shared_ptr<H2Counts> counts)
    : stream_(std::move(stream)),
      config_(config),
      router_(std::move(router)),
      slot_(std::move(slot)),
      draining_(draining),
      counts_(std::move(counts)),
      idle_timer_(stream_.get_executor()),
      write_timer_(stream_.get_executor()) {
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &H2Callbacks::Send);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &H2Callbacks::BeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &H2Callbacks::Header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2Callbacks::DataChunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2Callbacks::FrameRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2Callbacks::StreamClose);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  // SETTINGS and PING each make us queue an ACK: a peer that never reads
  // them would grow our queue without bound; past this many the session
  // fails (GOAWAY) instead.
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_session_server_new2(&session_, cbs, this, opt);
  counts_->connections.fetch_add(1, std::memory_order_relaxed);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
}

H2Session::~H2Session() {
  nghttp2_session_del(session_);
  counts_->streams.fetch_sub(static_cast<int>(streams_.size()), std::memory_order_relaxed);
  counts_->connections.fetch_sub(1, std::memory_order_relaxed);
}

void H2Session::Start(std::string initial) {
  const uint32_t max_streams =
      static_cast<uint32_t>(config_.http2_max_streams > 0 ? config_.http2_max_streams : 100);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(config_.max_header_bytes)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                          sizeof(settings) / sizeof(settings[0]));
  if (slot_) {
    slot_->OnDrain([weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        net::post(self->stream_.get_executor(), [self] { self->OnDrain(); });
      }
    });
  }
  if (Draining()) OnDrain();
  stream_.tcp().expires_never();  // Our own timers (idle, write) govern.
  beast::error_code ec;
  const auto peer = stream_.tcp().socket().remote_endpoint(ec);
  if (!ec) {
    peer_ = peer.address().is_v6()
                ? absl::StrCat("[", peer.address().to_string(), "]:", peer.port())
                : absl::StrCat(peer.address().to_string(), ":", peer.port());
  }
  ArmIdle();
  if (!initial.empty()) {
    in_recv_ = true;
    const ssize_t rv = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(initial.data()), initial.size());
    in_recv_ = false;
    if (rv < 0) {
      TG_LOG(DEBUG) << "http2: " << nghttp2_strerror(static_cast<int>(rv));
      nghttp2_session_terminate_session(session_, RecvErrorCode(rv));
    }
  }
  Flush();
  DoRead();
}

bool H2Session::Draining() const { return draining_ || !slot_ || slot_->draining(); }

void H2Session::OnDrain() {
  if (closed_ || goaway_sent_) return;
  draining_ = true;
  goaway_sent_ = true;
  // Streams already begun finish; nghttp2 ignores newer ones, and the
  // connection ends when the last open stream does (want_read/want_write 0).
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  Flush();
  // Then the taken-over streams end as HTTP/1.1 ones do on a drain.
  for (auto& [id, st] : streams_) {
    if (st->on_drain) net::post(stream_.get_executor(), std::move(st->on_drain));
  }
}

void H2Session::DoRead() {
  if (closed_ || reading_ || (!lingering_ && !nghttp2_session_want_read(session_))) return;
  reading_ = true;
  stream_.async_read_some(net::buffer(read_buf_),
                          beast::bind_front_handler(&H2Session::OnRead, shared_from_this()));
}

void H2Session::OnRead(beast::error_code ec, std::size_t n) {
  reading_ = false;
  if (closed_) return;
  if (lingering_) {
    // The session is over: drop what the peer still sends until it closes.
    if (ec) return Close();
    return DoRead();
  }
  if (ec) {
    if (ec != net::error::eof && ec != net::error::operation_aborted) {
      TG_LOG(DEBUG) << "http2 read: " << ec.message();
    }
    return Close();
  }
  in_recv_ = true;
  const ssize_t rv =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(read_buf_.data()), n);
  in_recv_ = false;
  if (rv < 0) {
    // Bad preface, HPACK decoding failure (NGHTTP2_ERR_HEADER_COMP), flood
    // (NGHTTP2_ERR_FLOODED)...: nghttp2 queued a GOAWAY where it could; else
    // this one goes out (a no-op when one is already queued).
    TG_LOG(DEBUG) << "http2: " << nghttp2_strerror(static_cast<int>(rv));
    nghttp2_session_terminate_session(session_, RecvErrorCode(rv));
  }
  Flush();
  DoRead();
}

void H2Session::Flush() {
  // Inside mem_recv (a callback reached here) nghttp2 must not be re-entered
  // with mem_send: the caller of mem_recv flushes right after it.
  if (closed_ || writing_ || in_recv_) return;
  out_.clear();
  for (;;) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      TG_LOG(DEBUG) << "http2 send: " << nghttp2_strerror(static_cast<int>(n));
      return Close();
    }
    if (n == 0) break;
    // Copied: `data` is valid only until the next mem_send.
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    if (out_.size() >= kMaxWriteBytes) break;
  }
  if (out_.empty()) {
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) Linger();
    return;
  }
  writing_ = true;
  write_timer_.expires_after(absl::ToChronoNanoseconds(config_.write_timeout));
  write_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec && self->writing_) {
      TG_LOG(DEBUG) << "http2: write timed out";
      self->Close();
    }
  });
  net::async_write(stream_, net::buffer(out_),
                   beast::bind_front_handler(&H2Session::OnWrite, shared_from_this()));
}

void H2Session::OnWrite(beast::error_code ec, std::size_t) {
  writing_ = false;
  write_timer_.cancel();
  if (closed_) return;
  if (ec) return Close();
  Flush();
  DoRead();  // A read paused while nghttp2 did not want one may resume.
}

void H2Session::Linger() {
  if (closed_ || lingering_) return;
  lingering_ = true;
  idle_timer_.cancel();
  // Everything was written (out_ empty, no write in flight): FIN after it.
  beast::error_code ec;
  stream_.tcp().socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  write_timer_.expires_after(kLingerTime);
  write_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->Close();
  });
  DoRead();  // Unless a read is already in flight.
}

void H2Session::ArmIdle() {
  idle_timer_.expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
  idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->closed_ || self->lingering_ || !self->streams_.empty()) return;
    // Nothing asked within the header timeout: say goodbye and close.
    nghttp2_session_terminate_session(self->session_, NGHTTP2_NO_ERROR);
    self->Flush();
  });
}

void H2Session::Close() {
  if (closed_) return;
  closed_ = true;
  idle_timer_.cancel();
  write_timer_.cancel();
  counts_->streams.fetch_sub(static_cast<int>(streams_.size()), std::memory_order_relaxed);
  // Taken-over streams (SSE) learn at once that their connection is gone,
  // as an HTTP/1.1 session does from its socket, instead of at their next write.
  for (auto& [id, st] : streams_) {
    if (st->done) {
      net::post(stream_.get_executor(),
                [done = std::move(st->done)] { done(net::error::connection_reset); });
    }
    if (st->on_peer_closed) net::post(stream_.get_executor(), std::move(st->on_peer_closed));
  }
  streams_.clear();
  stream_.close();
}

int H2Session::OnBeginHeaders(int32_t stream_id) {
  auto stream = std::make_unique<Stream>();
  stream->request.version(11);  // Handlers see what an HTTP/1.1 request would give them.
  stream->request_timer = std::make_unique<net::steady_timer>(stream_.get_executor());
  stream->request_timer->expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
  // Destroyed with the stream (operation_aborted then).
  stream->request_timer->async_wait(
      [self = shared_from_this(), stream_id](beast::error_code ec) {
        if (ec || self->closed_) return;
        auto it = self->streams_.find(stream_id);
        if (it == self->streams_.end() || it->second->dispatched) return;
        TG_LOG(DEBUG) << "http2: request not complete within the header timeout";
        nghttp2_submit_rst_stream(self->session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
        self->Flush();
      });
  if (streams_.emplace(stream_id, std::move(stream)).second) {
    counts_->streams.fetch_add(1, std::memory_order_relaxed);
  }
  idle_timer_.cancel();
  return 0;
}

int H2Session::OnHeader(int32_t stream_id, std::string_view name, std::string_view value) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second->dispatched) return 0;
  Stream& s = *it->second;
  // RFC 9113 6.5.2's measure; the same limit as an HTTP/1.1 request head.
  s.header_bytes += name.size() + value.size() + 32;
  if (s.header_bytes > kHeaderBombFactor * config_.max_header_bytes) {
    TG_LOG(DEBUG) << "http2: header list decodes past " << kHeaderBombFactor
                  << " times its limit; GOAWAY COMPRESSION_ERROR";
    nghttp2_session_terminate_session(session_, NGHTTP2_COMPRESSION_ERROR);
    return NGHTTP2_ERR_CALLBACK_FAILURE;  // Stop decoding now.
  }
  if (s.header_bytes > config_.max_header_bytes) {
    s.headers_too_large = true;
    return 0;
  }
  HttpRequest& r = s.request;
  if (name == ":method") {
    r.method_string(value);
  } else if (name == ":path") {
    r.target(value);
  } else if (name == ":authority") {
    r.set(http::field::host, value);
  } else if (!name.empty() && name[0] != ':') {
    r.insert(name, value);
  }
  return 0;
}

int H2Session::OnDataChunk(int32_t stream_id, const uint8_t* data, size_t len) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  Stream& s = *it->second;
  if (s.body_too_large) return 0;
  if (s.request.body().size() + len > s.body_limit) {
    s.body_too_large = true;
    s.request.body().clear();
    return 0;
  }
  s.request.body().append(reinterpret_cast<const char*>(data), len);
  return 0;
}

bool H2Session::FrameRate::Exceeds(int limit, std::chrono::steady_clock::time_point now) {
  if (now - window_start >= std::chrono::seconds(1)) {
    window_start = now;
    in_window = 0;
  }
  return ++in_window > limit;
}

int H2Session::OnFrameRecv(const nghttp2_frame* frame) {
  const uint8_t type = frame->hd.type;
  const bool needs_ack =
      (type == NGHTTP2_PING || type == NGHTTP2_SETTINGS) && !(frame->hd.flags & NGHTTP2_FLAG_ACK);
  if (!goaway_sent_ && (type == NGHTTP2_RST_STREAM || needs_ack)) {
    const auto now = std::chrono::steady_clock::now();
    const int max_resets = config_.http2_max_resets_per_second;
    const char* flood = nullptr;
    if (type == NGHTTP2_RST_STREAM && max_resets > 0 && resets_.Exceeds(max_resets, now)) {
      flood = "RST_STREAM";  // Rapid reset (CVE-2023-44487).
    } else if (needs_ack && controls_.Exceeds(kMaxControlFramesPerSecond, now)) {
      flood = "PING/SETTINGS";
    }
    if (flood != nullptr) {
      TG_LOG(DEBUG) << "http2: " << flood << " flood; GOAWAY ENHANCE_YOUR_CALM";
      goaway_sent_ = true;
      nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
      return 0;
    }
  }
  const int32_t id = frame->hd.stream_id;
  auto it = streams_.find(id);
  if (it == streams_.end()) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    // The body limit is the route's, known once the path is.
    if (const AsyncRoute* route = router_->FindAsync(PathOf(it->second->request.target()))) {
      it->second->body_limit = route->max_body_bytes;
    }
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !it->second->dispatched) {
    Dispatch(id);
  }
  return 0;
}

int H2Session::OnStreamClose(int32_t stream_id) {
  if (auto it = streams_.find(stream_id); it != streams_.end() && it->second->sink) {
    // Inside nghttp2: the taker hears of it from the event loop.
    Stream& st = *it->second;
    auto ex = stream_.get_executor();
    if (st.done) {
      net::post(ex, [done = std::move(st.done)] { done(net::error::connection_reset); });
    }
    if (st.on_peer_closed) net::post(ex, std::move(st.on_peer_closed));
  }
  if (streams_.erase(stream_id) > 0) counts_->streams.fetch_sub(1, std::memory_order_relaxed);
  if (streams_.empty() && !closed_) ArmIdle();
  return 0;
}

ssize_t H2Session::ReadBody(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  Stream& s = *it->second;
  if (s.sink) return ReadSinkData(s, buf, length, flags);
  const size_t n = std::min(length, s.response_body.size() - s.sent);
  std::copy_n(s.response_body.data() + s.sent, n, buf);
  s.sent += n;
  if (s.sent == s.response_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

void H2Session::Dispatch(int32_t id) {
  Stream& s = *streams_.at(id);
  s.dispatched = true;
  s.request_timer.reset();  // Cancels it.
  const HttpRequest& request = s.request;
  const std::string_view path = PathOf(request.target());
  if (s.headers_too_large) {
    return Respond(id, TextResponse(request, http::status::request_header_fields_too_large,
                                    "request headers exceed the size limit\n"));
  }
  if (s.body_too_large) {
    const AsyncRoute* route = router_->FindAsync(path);
    if (route != nullptr && route->too_large) return Respond(id, route->too_large(request));
    return Respond(id, TextResponse(request, http::status::payload_too_large,
                                    "request body exceeds the size limit\n"));
  }
  // Every open HTTP/2 stream of the server counts against max_connections
  // too (an SSE stream costs about what an HTTP/1.1 SSE connection does), so
  // multiplexing cannot multiply the server's load past that cap.
  const bool streams_full =
      config_.max_connections > 0 &&
      counts_->streams.load(std::memory_order_relaxed) > config_.max_connections;
  if (Draining() || streams_full) {
    // Streams begun before the GOAWAY are answered like HTTP/1.1 requests
    // arriving while draining or full.
    const bool draining = draining_ || (slot_ && slot_->draining());
    const PlainHandler* plain = router_->FindPlain(path);
    const BusyHandler* busy = router_->FindBusy(path);
    if (busy != nullptr && request.method() == http::verb::get) {
      return Respond(id, (*busy)(request, draining), 503);
    }
    if (busy != nullptr && plain != nullptr && request.method() == http::verb::options) {
      return Respond(id, (*plain)(request));
    }
    HttpResponse res =
        TextResponse(request, http::status::service_unavailable,
                     draining ? "server is draining; retry on another instance\n"
                              : "too many connections; retry later\n");
    res.set(http::field::retry_after, std::to_string(absl::ToInt64Seconds(config_.retry_after)));
    // No slot: no further streams on this connection. Posted: this runs
    // inside nghttp2_session_mem_recv, where mem_send must not be called.
    if (!goaway_sent_ && !slot_) {
      net::post(stream_.get_executor(), [self = shared_from_this()] { self->OnDrain(); });
    }
    return Respond(id, std::move(res));
  }
  if (const StreamHandler* h = router_->FindStream(path);
      h != nullptr && request.method() == http::verb::get) {
    StreamDecision decision = (*h)(request);
    if (decision.refusal) return Respond(id, std::move(*decision.refusal));
    if (!decision.sink_takeover) {
      // A route that streams only over HTTP/1.1: RFC 9113 8.7 lets clients
      // retry the request there (browsers and curl do).
      return Refuse(id, NGHTTP2_HTTP_1_1_REQUIRED);
    }
    s.sink = true;
    decision.sink_takeover(
        std::make_shared<H2Sink>(weak_from_this(), stream_.get_executor(), id, peer_));
    return;
  }
  if (const AsyncRoute* route = router_->FindAsync(path)) {
    // The response comes later, from any thread: back to the strand, where
    // the stream may have been reset meanwhile.
    auto sent = std::make_shared<std::atomic<bool>>(false);
    route->handler(std::move(s.request), [self = shared_from_this(), id, sent](
                                             HttpResponse response) {
      if (sent->exchange(true)) return;
      net::post(self->stream_.get_executor(),
                [self, id, response = std::move(response)]() mutable {
                  if (self->closed_ || self->streams_.count(id) == 0) return;
                  self->Respond(id, std::move(response));
                  self->Flush();
                });
    });
    return;
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
                            "not found: " + std::string(path) + "\n");
  }
  Respond(id, std::move(response));
}

void H2Session::Respond(int32_t id, HttpResponse response, unsigned observed_status) {
  router_->ObserveResponse(observed_status != 0 ? observed_status : response.result_int());
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = *it->second;
  const std::string status = std::to_string(response.result_int());
  // Lower-cased names must outlive the nghttp2_nv array (submit copies them).
  std::vector<std::string> names;
  names.reserve(16);
  std::vector<nghttp2_nv> nva;
  auto add = [&nva](std::string_view name, std::string_view value) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                   value.size(), NGHTTP2_NV_FLAG_NONE});
  };
  add(":status", status);
  for (const auto& field : response) {
    std::string name = Lower(field.name_string());
    if (IsConnectionSpecific(name)) continue;
    names.push_back(std::move(name));
  }
  size_t i = 0;
  for (const auto& field : response) {
    const std::string lower = Lower(field.name_string());
    if (IsConnectionSpecific(lower)) continue;
    add(names[i++], field.value());
  }
  const bool head = s.request.method() == http::verb::head;
  s.response_body = std::move(response.body());
  s.sent = 0;
  nghttp2_data_provider provider{};
  provider.read_callback = &H2Callbacks::ReadBody;
  const int rv = nghttp2_submit_response(session_, id, nva.data(), nva.size(),
                                         head || s.response_body.empty() ? nullptr : &provider);
  if (rv != 0) {
    TG_LOG(DEBUG) << "http2 submit: " << nghttp2_strerror(rv);
  }
}

void H2Session::Refuse(int32_t id, uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code);
}

}  // namespace tailgate::http2

namespace tailgate::http2 {

void H2Session::SinkWrite(int32_t id, std::vector<net::const_buffer> buffers,
                          std::function<void(beast::error_code)> done) {
  auto it = streams_.find(id);
  if (closed_ || it == streams_.end()) {
    net::post(stream_.get_executor(),
              [done = std::move(done)] { done(net::error::connection_reset); });
    return;
  }
  Stream& st = *it->second;
  if (!st.headers_sent && !buffers.empty()) {
    // The head is whole in the first buffer (the session's prefix).
    const std::string_view first(static_cast<const char*>(buffers[0].data()), buffers[0].size());
    const size_t end = first.find("\r\n\r\n");
    std::string status;
    std::vector<std::pair<std::string, std::string>> fields;
    if (end == std::string_view::npos || !ParseHead(first.substr(0, end + 2), &status, &fields)) {
      net::post(stream_.get_executor(),
                [done = std::move(done)] { done(http::error::bad_value); });
      return;
    }
    buffers[0] += end + 4;
    std::vector<nghttp2_nv> nva;
    auto add = [&nva](const std::string& name, const std::string& value) {
      nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                     reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                     value.size(), NGHTTP2_NV_FLAG_NONE});
    };
    const std::string status_name = ":status";
    add(status_name, status);
    for (const auto& [name, value] : fields) add(name, value);
    nghttp2_data_provider provider{};
    provider.read_callback = &H2Callbacks::ReadBody;
    st.headers_sent = true;
    if (const int rv = nghttp2_submit_response(session_, id, nva.data(), nva.size(), &provider);
        rv != 0) {
      TG_LOG(DEBUG) << "http2 submit: " << nghttp2_strerror(rv);
    }
  }
  st.pending.clear();
  for (const net::const_buffer& b : buffers) {
    if (b.size() > 0) st.pending.push_back(b);
  }
  st.done = std::move(done);
  if (st.deferred) {
    st.deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  Flush();
}

ssize_t H2Session::ReadSinkData(Stream& st, uint8_t* buf, size_t length, uint32_t* flags) {
  // Copies (rather than NGHTTP2_DATA_FLAG_NO_COPY) because the frames of many
  // streams go out together through mem_send.
  size_t n = 0;
  while (n < length && !st.pending.empty()) {
    net::const_buffer& b = st.pending.front();
    const size_t take = std::min(length - n, b.size());
    std::copy_n(static_cast<const uint8_t*>(b.data()), take, buf + n);
    n += take;
    b += take;
    if (b.size() == 0) st.pending.erase(st.pending.begin());
  }
  if (st.pending.empty() && st.done) {
    // All handed to nghttp2: the taker may write again (later, not inside nghttp2).
    net::post(stream_.get_executor(),
              [done = std::move(st.done)] { done(beast::error_code()); });
    st.done = nullptr;
  }
  if (st.pending.empty() && st.eof) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    st.deferred = true;  // Until the next write or the end resumes it.
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

void H2Session::SinkEnd(int32_t id) {
  auto it = streams_.find(id);
  if (closed_ || it == streams_.end()) return;
  Stream& st = *it->second;
  st.on_peer_closed = nullptr;
  st.on_drain = nullptr;
  if (st.eof) return;
  if (!st.headers_sent || !st.pending.empty()) {
    // Nothing said yet, or a write that could not go out (timed out): reset.
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  } else {
    st.eof = true;
    if (st.deferred) {
      st.deferred = false;
      nghttp2_session_resume_data(session_, id);
    }
  }
  Flush();
}

}  // namespace tailgate::http2

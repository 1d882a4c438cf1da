// The HTTP/2 connection: nghttp2 session set-up, socket reads and gathered
// writes, flood limits, drain, idle and linger, close. Requests are in
// h2_requests.cc, taken-over streams (SSE) in h2_sink.cc.
#include "gateway/http/h2_session.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/diag/logging.h"
#include "gateway/http/h2_internal.h"

namespace tailgate::http2 {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

// Frames gathered into one socket write stop growing past this: a larger
// write only delays the next read and other streams' turn.
constexpr size_t kMaxWriteBytes = 64 * 1024;

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
    slot_->OnDrain(weak_from_this(), [](const std::shared_ptr<void>& owner) {
      auto self = std::static_pointer_cast<H2Session>(owner);
      net::post(self->stream_.get_executor(), [self] { self->OnDrain(); });
    });
  }
  if (Draining()) OnDrain();
  stream_.DropTimeouts();  // Our own timers (idle, write) govern.
  beast::error_code ec;
  const auto peer = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    peer_ = peer.address().is_v6()
                ? absl::StrCat("[", peer.address().to_string(), "]:", peer.port())
                : absl::StrCat(peer.address().to_string(), ":", peer.port());
  }
  ArmIdle();
  if (!initial.empty()) Receive(initial.data(), initial.size());
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
    st->PostDrain(stream_.get_executor());
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
  Receive(read_buf_.data(), n);
  Flush();
  DoRead();
}

void H2Session::Receive(const char* data, size_t n) {
  in_recv_ = true;
  const ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), n);
  in_recv_ = false;
  if (rv < 0) {
    // Bad preface, HPACK decoding failure (NGHTTP2_ERR_HEADER_COMP), flood
    // (NGHTTP2_ERR_FLOODED)...: nghttp2 queued a GOAWAY where it could; else
    // this one goes out (a no-op when one is already queued).
    TG_LOG(DEBUG) << "http2: " << nghttp2_strerror(static_cast<int>(rv));
    nghttp2_session_terminate_session(session_, RecvErrorCode(rv));
  }
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
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
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
    st->PostPeerClosed(stream_.get_executor());
  }
  streams_.clear();
  stream_.close();
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
  Stream::Exchange* exchange = it->second->exchange.get();
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
      exchange != nullptr) {
    // The body limit is the route's, known once the path is.
    if (const AsyncRoute* route = router_->FindAsync(PathOf(exchange->request.target()))) {
      exchange->body_limit = route->max_body_bytes;
    }
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !it->second->dispatched) {
    Dispatch(id);
  }
  return 0;
}

int H2Session::OnStreamClose(int32_t stream_id) {
  if (auto it = streams_.find(stream_id); it != streams_.end() && it->second->sink()) {
    // Inside nghttp2: the taker hears of it from the event loop.
    Stream& st = *it->second;
    auto ex = stream_.get_executor();
    if (st.done) {
      net::post(ex, [done = std::move(st.done)] { done(net::error::connection_reset); });
    }
    st.PostPeerClosed(ex);
  }
  if (streams_.erase(stream_id) > 0) counts_->streams.fetch_sub(1, std::memory_order_relaxed);
  if (streams_.empty() && !closed_) ArmIdle();
  return 0;
}

}  // namespace tailgate::http2

// Internal to the HTTP/2 session (h2_session.cc, h2_requests.cc,
// h2_sink.cc): a request stream's state, the StreamSink of a taken-over
// stream, nghttp2's C callbacks and the field helpers they share. Not a
// public header. Same thread-safety as H2Session: the connection's strand.
#ifndef TAILGATE_GATEWAY_HTTP_H2_INTERNAL_H_
#define TAILGATE_GATEWAY_HTTP_H2_INTERNAL_H_

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>

#include "gateway/http/h2_session.h"
#include "gateway/http/stream_sink.h"

namespace tailgate::http2 {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

// A request's decoded header list past this many times the advertised
// SETTINGS_MAX_HEADER_LIST_SIZE is not answered with 431 but ends the
// connection: an HPACK bomb (a few bytes of indexed references decoding to
// megabytes) would otherwise have nghttp2 decode all of it, and as often as
// the peer likes. Decoding stops mid-block, so the connection's HPACK state
// is lost: COMPRESSION_ERROR, as nghttp2 answers a single field past its own
// 64 KiB limit.
inline constexpr size_t kHeaderBombFactor = 4;

// HTTP/2 field names are lower case (RFC 9113 8.2.1).
inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// RFC 9113 8.2.2: connection-specific fields must not appear in HTTP/2.
inline bool IsConnectionSpecific(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
         lower_name == "upgrade";
}

// One request stream's state: the request as it arrives and a plain
// response as nghttp2 pulls it, or the writes of a taken-over (SSE) stream.
struct H2Session::Stream {
  // The request phase, and a plain response. Given back when a stream route
  // takes the stream over: an SSE stream lives long and idle, and keeps only
  // what is below.
  struct Exchange {
    HttpRequest request;
    size_t header_bytes = 0;
    bool headers_too_large = false;
    bool body_too_large = false;
    size_t body_limit = kDefaultMaxBodyBytes;
    // The whole request (HEADERS, CONTINUATIONs, body) within header_timeout,
    // as for HTTP/1.1: a stream stalled mid-request is reset.
    std::unique_ptr<net::steady_timer> request_timer;
    std::string response_body;
    size_t sent = 0;
  };
  std::unique_ptr<Exchange> exchange = std::make_unique<Exchange>();  // Null once a sink.
  bool dispatched = false;
  // A stream taken over through a StreamSink:
  bool sink() const { return exchange == nullptr; }
  bool headers_sent = false;
  bool deferred = false;  // The data provider returned NGHTTP2_ERR_DEFERRED.
  bool eof = false;       // End after `pending`.
  std::vector<net::const_buffer> pending;  // The write in flight, unsent part.
  std::function<void(beast::error_code)> done;
  // The taker's hooks (StreamSink::OnPeerClosed, OnDrain).
  std::shared_ptr<void> peer_closed_owner;
  StreamSink::Hook on_peer_closed = nullptr;
  std::weak_ptr<void> drain_owner;
  StreamSink::Hook on_drain = nullptr;

  // Posts the peer-closed hook to `ex`, once.
  void PostPeerClosed(const net::any_io_executor& ex) {
    if (on_peer_closed == nullptr) return;
    net::post(ex, [owner = std::move(peer_closed_owner),
                   hook = std::exchange(on_peer_closed, nullptr)] { hook(owner); });
  }
  // Posts the drain hook to `ex`, once; it runs if its owner is still there.
  void PostDrain(const net::any_io_executor& ex) {
    if (on_drain == nullptr) return;
    net::post(ex, [owner = std::move(drain_owner), hook = std::exchange(on_drain, nullptr)] {
      if (std::shared_ptr<void> pinned = owner.lock()) hook(pinned);
    });
  }
  // The taker ended the stream: it hears nothing more.
  void DropHooks() {
    peer_closed_owner.reset();
    on_peer_closed = nullptr;
    drain_owner.reset();
    on_drain = nullptr;
  }
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
  void OnPeerClosed(std::shared_ptr<void> owner, Hook hook) override {
    if (Stream* st = Find()) {
      st->peer_closed_owner = std::move(owner);
      st->on_peer_closed = hook;
    }
  }
  void OnDrain(std::weak_ptr<void> owner, Hook hook) override {
    if (Stream* st = Find()) {
      st->drain_owner = std::move(owner);
      st->on_drain = hook;
    }
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

}  // namespace tailgate::http2

#endif  // TAILGATE_GATEWAY_HTTP_H2_INTERNAL_H_

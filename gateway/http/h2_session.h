// One HTTP/2 server connection on libnghttp2 (framing, HPACK and flow
// control are nghttp2's; this class moves bytes and maps streams to routes).
//
// Reached from HttpServer's HttpSession: plaintext h2c with prior knowledge
// (the connection preface seen in the first bytes) or TLS whose ALPN chose
// "h2". Each request stream is answered through the same HttpRouter as
// HTTP/1.1: plain and async routes give the same status and body; a stream
// route (SSE) is refused with RST_STREAM HTTP_1_1_REQUIRED, on which clients
// (browsers, curl) retry the request over HTTP/1.1 when the route offers no
// SinkTakeover; with one (SSE), the stream is handed to the route as a
// StreamSink: its writes become DATA frames as the stream's flow-control
// window allows (a stalled stream defers only itself), and a drain sends
// GOAWAY, then tells each such stream to end.
//
// I/O: one read and at most one write outstanding, all on the connection's
// strand (the HttpStream's executor); every frame nghttp2 has queued (of any
// number of streams) goes out in one gathered socket write.
//
// Timeouts: with no open stream the connection closes after header_timeout
// (the preface and first HEADERS, and idle time between requests, like an
// HTTP/1.1 keep-alive connection); a socket write taking longer than
// write_timeout closes it.
//
// Ownership: holds itself alive (shared_ptr) while I/O is pending; owns the
// stream and the connection's slot. Not thread-safe: use only on the strand,
// except Start, which may be called from the strand that read `initial`.
#ifndef TAILGATE_GATEWAY_HTTP_H2_SESSION_H_
#define TAILGATE_GATEWAY_HTTP_H2_SESSION_H_

#include <nghttp2/nghttp2.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "gateway/config.h"
#include "gateway/http/http_server.h"
#include "gateway/http/http_stream.h"

namespace tailgate::http2 {

// The ALPN protocol id HTTP/2 over TLS negotiates.
inline constexpr std::string_view kAlpnH2 = "h2";
// The client connection preface (RFC 9113 3.4).
inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Installs an ALPN selection callback on a TLS server context that prefers
// "h2" over "http/1.1" (a client offering neither gets HTTP/1.1).
void EnableAlpnH2(SSL_CTX* ctx);

// Open HTTP/2 connections and streams of one server, for metrics.
// Thread-safe (atomics).
struct H2Counts {
  std::atomic<int> connections{0};
  std::atomic<int> streams{0};
};

class H2Session : public std::enable_shared_from_this<H2Session> {
 public:
  // `slot` null: the server was full or draining when the connection spoke;
  // every request is answered as HTTP/1.1 would (503 or the busy handler)
  // and the connection ends after a GOAWAY.
  H2Session(HttpStream stream, const HttpConfig& config, std::shared_ptr<const HttpRouter> router,
            std::shared_ptr<ConnectionSlot> slot, bool draining,
            std::shared_ptr<H2Counts> counts);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Starts the session on the strand: `initial` holds bytes already read
  // from the connection (the preface, for h2c), fed to nghttp2 first.
  void Start(std::string initial);

 private:
  struct Stream;
  friend struct H2Callbacks;
  friend class H2Sink;

  // StreamSink operations of stream `id` (see stream_sink.h).
  void SinkWrite(int32_t id, std::vector<boost::asio::const_buffer> buffers,
                 std::function<void(boost::beast::error_code)> done);
  void SinkEnd(int32_t id);
  ssize_t ReadSinkData(Stream& s, uint8_t* buf, size_t length, uint32_t* flags);

  bool Draining() const;
  void OnDrain();
  void DoRead();
  // Feeds peer bytes to nghttp2; a protocol error ends the session (GOAWAY).
  void Receive(const char* data, size_t n);
  void OnRead(boost::beast::error_code ec, std::size_t n);
  // Sends whatever nghttp2 has queued; closes when the session is done.
  void Flush();
  void OnWrite(boost::beast::error_code ec, std::size_t n);
  void ArmIdle();
  // The session ended: shut the socket's sending side, drop what the peer
  // still sends for a moment, then Close (see kLingerTime).
  void Linger();
  void Close();

  // nghttp2 callbacks' work.
  int OnBeginHeaders(int32_t stream_id);
  int OnHeader(int32_t stream_id, std::string_view name, std::string_view value);
  int OnDataChunk(int32_t stream_id, const uint8_t* data, size_t len);
  int OnFrameRecv(const nghttp2_frame* frame);
  int OnStreamClose(int32_t stream_id);
  ssize_t ReadBody(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags);

  // The request on `stream_id` is complete: route it.
  void Dispatch(int32_t stream_id);
  void Respond(int32_t stream_id, HttpResponse response, unsigned observed_status = 0);
  void Refuse(int32_t stream_id, uint32_t error_code);

  HttpStream stream_;
  const HttpConfig& config_;
  std::shared_ptr<const HttpRouter> router_;
  std::shared_ptr<ConnectionSlot> slot_;
  bool draining_;
  std::shared_ptr<H2Counts> counts_;  // Never null.
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  std::string peer_;  // For the stream registry.
  std::array<char, 16 * 1024> read_buf_;
  std::string out_;      // Frames being written (one write in flight).
  bool writing_ = false;
  bool reading_ = false;
  bool in_recv_ = false;  // Inside nghttp2_session_mem_recv.
  bool closed_ = false;
  bool goaway_sent_ = false;
  bool lingering_ = false;
  // Frames of one kind received in the current one-second window: the
  // bound on floods nghttp2 itself lets through (it answers every PING and
  // SETTINGS of a client that reads its ACKs).
  struct FrameRate {
    std::chrono::steady_clock::time_point window_start;
    int in_window = 0;
    // Counts one frame; true when it makes more than `limit` this second.
    bool Exceeds(int limit, std::chrono::steady_clock::time_point now);
  };
  FrameRate resets_;    // RST_STREAM (rapid reset), --http2_max_resets.
  FrameRate controls_;  // PING and SETTINGS that need an ACK.
  boost::asio::steady_timer idle_timer_;   // No open stream for header_timeout.
  boost::asio::steady_timer write_timer_;  // A write past write_timeout.
};

}  // namespace tailgate::http2

#endif  // TAILGATE_GATEWAY_HTTP_H2_SESSION_H_

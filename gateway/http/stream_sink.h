// Where a taken-over streaming response (SSE) goes when it is not a whole
// HTTP/1.1 connection: one HTTP/2 stream (gateway/http/h2_session.cc).
//
// Thread-safety: every call on the sink's executor (the connection's
// strand); callbacks run there too, never inline from a call. Ownership:
// the taker holds the sink (shared_ptr); the connection outlives nothing
// it needs: a sink whose connection ended fails writes with an error.
#ifndef TAILGATE_GATEWAY_HTTP_STREAM_SINK_H_
#define TAILGATE_GATEWAY_HTTP_STREAM_SINK_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>

namespace tailgate {

class StreamSink {
 public:
  virtual ~StreamSink() = default;

  virtual boost::asio::any_io_executor get_executor() = 0;
  // Sends `buffers` (one write in flight at a time). The first write starts
  // with an HTTP/1.1-style response head (status line, fields, blank line),
  // which the sink sends in its own form (HTTP/2 HEADERS) and connection-
  // specific fields dropped. The buffers must stay valid until `done` runs:
  // once the bytes were handed on (subject to the stream's flow control), or
  // with an error when the stream or connection ended.
  virtual void AsyncWrite(std::vector<boost::asio::const_buffer> buffers,
                          std::function<void(boost::beast::error_code)> done) = 0;
  // The hooks below: a plain function, called with the taker's object (no
  // allocation per stream, which matters to long-lived idle streams).
  using Hook = void (*)(const std::shared_ptr<void>& owner);
  // `hook(owner)` runs once when the peer ends the stream (reset, connection
  // gone). The sink holds `owner` until then or End: a taker that nothing
  // else owns while idle holds itself through it. Replaces an earlier hook.
  virtual void OnPeerClosed(std::shared_ptr<void> owner, Hook hook) = 0;
  // `hook(owner)` runs once when the server drains (the connection's GOAWAY
  // is out), with `owner` pinned; never once it is gone (the sink holds it
  // weakly). Replaces an earlier hook.
  virtual void OnDrain(std::weak_ptr<void> owner, Hook hook) = 0;
  // Ends the stream: cleanly when everything written went out (END_STREAM),
  // else with a reset. Idempotent.
  virtual void End() = 0;
  // The peer's address ("1.2.3.4:5", "[::1]:5"), empty if unknown.
  virtual std::string peer() const = 0;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_HTTP_STREAM_SINK_H_

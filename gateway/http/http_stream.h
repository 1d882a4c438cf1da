// The byte stream of one HTTP connection: plain TCP or TLS over TCP, decided
// per listener at run time, behind one type so that the HTTP session and the
// SSE session are written once.
//
// It meets Asio's AsyncReadStream / AsyncWriteStream requirements (for
// http::async_read, http::async_write and net::async_write) with plain
// completion handlers. The lowest layer is a beast::tcp_stream while the
// connection serves requests: its expires_after() times every operation, the
// TLS handshake included. A stream that outlives its requests (SSE, HTTP/2)
// times its own writes and calls DropTimeouts(): a plaintext stream then runs
// on the bare socket (an idle SSE connection need not carry the tcp_stream's
// two timers). Like the streams it wraps, at most one read and one write may
// be outstanding, all on the connection's strand (the socket's executor).
//
// Movable, not copyable. A TLS stream keeps its ssl::context alive.
#ifndef TAILGATE_GATEWAY_HTTP_HTTP_STREAM_H_
#define TAILGATE_GATEWAY_HTTP_HTTP_STREAM_H_

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace tailgate {

class HttpStream {
 public:
  using TcpStream = boost::beast::tcp_stream;
  using TlsStream = boost::beast::ssl_stream<TcpStream>;
  using executor_type = TcpStream::executor_type;

  // Plaintext.
  explicit HttpStream(boost::asio::ip::tcp::socket socket)
      : plain_(std::make_unique<TcpStream>(std::move(socket))) {}
  // TLS; run async_handshake before anything else.
  HttpStream(boost::asio::ip::tcp::socket socket,
             std::shared_ptr<boost::asio::ssl::context> context)
      : context_(std::move(context)),
        tls_(std::make_unique<TlsStream>(std::move(socket), *context_)) {}

  HttpStream(HttpStream&&) = default;
  HttpStream& operator=(HttpStream&&) = default;

  bool is_tls() const { return tls_ != nullptr; }
  // The protocol TLS ALPN chose ("h2", "http/1.1"), empty without one.
  std::string_view alpn() const {
    if (!tls_) return {};
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(const_cast<TlsStream&>(*tls_).native_handle(), &data, &len);
    return {reinterpret_cast<const char*>(data), len};
  }
  executor_type get_executor() { return socket().get_executor(); }
  // The TCP layer (timeouts, cancel); only until DropTimeouts().
  TcpStream& tcp() { return tls_ ? boost::beast::get_lowest_layer(*tls_) : *plain_; }
  // The socket underneath (shutdown, waits, addresses).
  boost::asio::ip::tcp::socket& socket() {
    if (bare_) return *bare_;
    return tcp().socket();
  }

  // From now on nothing expires (the caller times what it needs). A
  // plaintext stream swaps Beast's tcp_stream for its bare socket, whose
  // memory is a fraction of it; tcp() must not be used afterwards then.
  // No operation may be outstanding.
  void DropTimeouts() {
    tcp().expires_never();
    if (plain_) {
      bare_.emplace(plain_->release_socket());
      plain_.reset();
    }
  }

  template <class MutableBufferSequence, class ReadHandler>
  void async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<ReadHandler>(handler));
    } else if (bare_) {
      bare_->async_read_some(buffers, std::forward<ReadHandler>(handler));
    } else {
      plain_->async_read_some(buffers, std::forward<ReadHandler>(handler));
    }
  }

  template <class ConstBufferSequence, class WriteHandler>
  void async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<WriteHandler>(handler));
    } else if (bare_) {
      bare_->async_write_some(buffers, std::forward<WriteHandler>(handler));
    } else {
      plain_->async_write_some(buffers, std::forward<WriteHandler>(handler));
    }
  }

  // TLS: the server side of the handshake. Plaintext: completes at once
  // (through the executor, never inline).
  template <class Handler>
  void async_handshake(Handler&& handler) {
    if (tls_) {
      tls_->async_handshake(boost::asio::ssl::stream_base::server, std::forward<Handler>(handler));
    } else {
      boost::asio::post(get_executor(),
                        boost::beast::bind_handler(std::forward<Handler>(handler),
                                                   boost::beast::error_code()));
    }
  }

  // Ends our direction of the connection: TLS close_notify (waiting for the
  // peer's at most as long as the TCP layer's expiry allows), then a TCP
  // half-close. Plaintext: the half-close only. `handler(error_code)` runs
  // on the executor afterwards.
  template <class Handler>
  void async_shutdown(Handler&& handler) {
    if (tls_) {
      tls_->async_shutdown(std::forward<Handler>(handler));
    } else {
      boost::beast::error_code ec;
      socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
      boost::asio::post(get_executor(),
                        boost::beast::bind_handler(std::forward<Handler>(handler), ec));
    }
  }

  // Plaintext only (check can_write_now()): sends what the kernel accepts
  // right now, with no event-loop round trip and no completion handler
  // (sendmsg with MSG_DONTWAIT). Returns the bytes written: all of them in the
  // common case, fewer when the socket buffer filled up (the caller finishes
  // with async_write_some), 0 with `ec` set on a broken connection. Must not
  // overlap an outstanding write.
  bool can_write_now() const { return tls_ == nullptr; }
  template <class BufferIterator>
  std::size_t write_now(BufferIterator begin, BufferIterator end, boost::beast::error_code& ec) {
    ec.clear();
    const int fd = socket().native_handle();
    std::size_t total = 0;
    iovec iov[64];
    while (begin != end) {
      // Batches of 64 iovecs keep the array on the stack; a batch the kernel
      // took whole is followed by the next.
      std::size_t n = 0, want = 0;
      for (; begin != end && n < 64; ++begin, ++n) {
        iov[n].iov_base = const_cast<void*>(begin->data());
        iov[n].iov_len = begin->size();
        want += begin->size();
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = n;
      ssize_t sent;
      do {
        sent = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      } while (sent < 0 && errno == EINTR);
      if (sent < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          ec = boost::beast::error_code(errno, boost::asio::error::get_system_category());
        }
        return total;
      }
      total += static_cast<std::size_t>(sent);
      if (static_cast<std::size_t>(sent) < want) return total;
    }
    return total;
  }

  // Closes the socket at once (outstanding operations complete with
  // operation_aborted).
  void close() {
    if (bare_) {
      boost::beast::error_code ec;
      bare_->close(ec);
    } else {
      tcp().close();
    }
  }

 private:
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::unique_ptr<TlsStream> tls_;
  std::unique_ptr<TcpStream> plain_;
  std::optional<boost::asio::ip::tcp::socket> bare_;  // Plaintext after DropTimeouts().
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_HTTP_HTTP_STREAM_H_

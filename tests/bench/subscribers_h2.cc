// HTTP/2 subscribers: h2c with prior knowledge, many SSE streams per
// connection, framing and flow control by libnghttp2's client session. See
// subscribers.h.
#include <nghttp2/nghttp2.h>

#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/write.hpp>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "tests/bench/subscribers.h"

namespace tailgate::bench {

namespace net = boost::asio;

struct Subscribers::H2Conn {
  explicit H2Conn(net::io_context& ioc) : socket(ioc) {}
  ~H2Conn() {
    if (session != nullptr) nghttp2_session_del(session);
  }
  Subscribers* owner = nullptr;
  tcp::socket socket;
  nghttp2_session* session = nullptr;
  std::vector<Conn*> streams;    // Owned by Subscribers::conns_.
  std::vector<std::string> paths;
  std::string out;      // Frames waiting for the socket.
  std::string sending;  // Frames being written.
  bool writing = false;
  bool failed = false;
};

namespace {

nghttp2_nv Nv(absl::string_view name, absl::string_view value) {
  return {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
          const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

void Subscribers::ConnectH2(int n) {
  for (int i = 0; i < n; ++i) conns_.push_back(std::make_shared<Conn>(ioc_));
  for (int k = 0; k < h2_connections_ && k < n; ++k) {
    auto h = std::make_shared<H2Conn>(ioc_);
    h->owner = this;
    for (int i = k; i < n; i += h2_connections_) {
      h->streams.push_back(conns_[static_cast<size_t>(i)].get());
      h->paths.push_back(target_(i));
    }
    h2_conns_.push_back(h);
    h->socket.async_connect(endpoint_, [this, h](boost::system::error_code ec) {
      if (ec) return FailH2(*h);
      h->socket.set_option(tcp::no_delay(true), ec);
      h->socket.non_blocking(true, ec);
      StartH2(h);
    });
  }
}

void Subscribers::StartH2(const std::shared_ptr<H2Conn>& h) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(
      cbs, [](nghttp2_session* s, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void*) -> int {
        if (frame->hd.type != NGHTTP2_HEADERS) return 0;
        auto* c = static_cast<Conn*>(nghttp2_session_get_stream_user_data(s, frame->hd.stream_id));
        if (c != nullptr &&
            absl::string_view(reinterpret_cast<const char*>(name), namelen) == ":status") {
          c->head.assign(reinterpret_cast<const char*>(value), valuelen);
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_frame_recv_callback(
      cbs, [](nghttp2_session* s, const nghttp2_frame* frame, void* user) -> int {
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_RESPONSE) {
          return 0;
        }
        auto* c = static_cast<Conn*>(nghttp2_session_get_stream_user_data(s, frame->hd.stream_id));
        if (c == nullptr || c->phase != Conn::Phase::kHead) return 0;
        const bool ok = c->head == "200";
        std::string().swap(c->head);
        c->phase = Conn::Phase::kRaw;  // DATA frames carry the SSE body as is.
        static_cast<H2Conn*>(user)->owner->HeadDone(ok);
        return 0;
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      cbs, [](nghttp2_session* s, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
              void* user) -> int {
        auto* c = static_cast<Conn*>(nghttp2_session_get_stream_user_data(s, stream_id));
        if (c != nullptr && c->phase == Conn::Phase::kRaw) {
          static_cast<H2Conn*>(user)->owner->Body(*c, reinterpret_cast<const char*>(data), len);
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_stream_close_callback(
      cbs, [](nghttp2_session* s, int32_t stream_id, uint32_t, void* user) -> int {
        auto* c = static_cast<Conn*>(nghttp2_session_get_stream_user_data(s, stream_id));
        if (c != nullptr && c->phase != Conn::Phase::kDone) {
          c->phase = Conn::Phase::kDone;
          static_cast<H2Conn*>(user)->owner->errors_++;
        }
        return 0;
      });
  const int rv = nghttp2_session_client_new(&h->session, cbs, h.get());
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return FailH2(*h);
  // Windows far above what a run sends: the client never throttles the
  // server, so the server's own cost is what is measured.
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 30},
  };
  nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, (1u << 31) - 1);
  // "Name: value\r\n" lines of extra headers, lower-cased names as HTTP/2 requires.
  std::vector<std::pair<std::string, std::string>> extra;
  for (absl::string_view line : absl::StrSplit(extra_, "\r\n", absl::SkipEmpty())) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    extra.emplace_back(std::move(name),
                       std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  for (size_t i = 0; i < h->streams.size(); ++i) {
    std::vector<nghttp2_nv> nv = {Nv(":method", "GET"), Nv(":scheme", "http"),
                                  Nv(":authority", "127.0.0.1"), Nv(":path", h->paths[i]),
                                  Nv("accept", "text/event-stream")};
    for (const auto& [name, value] : extra) nv.push_back(Nv(name, value));
    // nghttp2 copies the header block when it is submitted.
    if (nghttp2_submit_request(h->session, nullptr, nv.data(), nv.size(), nullptr,
                               h->streams[i]) < 0) {
      h->streams[i]->phase = Conn::Phase::kDone;
      ++errors_;
    }
  }
  std::vector<std::string>().swap(h->paths);
  FlushH2(h);
  ReadH2(h);
}

void Subscribers::ReadH2(const std::shared_ptr<H2Conn>& h) {
  h->socket.async_wait(tcp::socket::wait_read, [this, h](boost::system::error_code ec) {
    if (ec || h->failed) return FailH2(*h);
    for (int round = 0; round < 4; ++round) {
      boost::system::error_code rec;
      const size_t n = h->socket.read_some(net::buffer(buf_), rec);
      if (rec == net::error::would_block) break;
      if (rec || n == 0) return FailH2(*h);
      const ssize_t used =
          nghttp2_session_mem_recv(h->session, reinterpret_cast<const uint8_t*>(buf_.data()), n);
      if (used < 0) return FailH2(*h);
      if (n < buf_.size()) break;
    }
    FlushH2(h);  // SETTINGS/PING acks and WINDOW_UPDATEs.
    AfterRead(h->socket.native_handle());
    ReadH2(h);
  });
}

void Subscribers::FlushH2(const std::shared_ptr<H2Conn>& h) {
  const uint8_t* data = nullptr;
  for (ssize_t n; (n = nghttp2_session_mem_send(h->session, &data)) > 0;) {
    h->out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  if (h->writing || h->out.empty()) return;
  h->writing = true;
  h->sending.clear();
  h->sending.swap(h->out);
  net::async_write(h->socket, net::buffer(h->sending),
                   [this, h](boost::system::error_code ec, size_t) {
                     h->writing = false;
                     if (ec) return FailH2(*h);
                     if (!h->out.empty()) FlushH2(h);
                   });
}

void Subscribers::FailH2(H2Conn& h) {
  if (h.failed) return;
  h.failed = true;
  for (Conn* c : h.streams) {
    if (c->phase != Conn::Phase::kDone) {
      c->phase = Conn::Phase::kDone;
      ++errors_;
    }
  }
  boost::system::error_code ignored;
  h.socket.close(ignored);
}

}  // namespace tailgate::bench

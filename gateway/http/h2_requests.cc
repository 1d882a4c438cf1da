// HTTP/2 request streams: headers and body as they arrive (with the
// header-list and body limits), dispatch through the HttpRouter, responses.
#include "gateway/http/h2_session.h"

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

int H2Session::OnBeginHeaders(int32_t stream_id) {
  auto stream = std::make_unique<Stream>();
  Stream::Exchange& x = *stream->exchange;
  x.request.version(11);  // Handlers see what an HTTP/1.1 request would give them.
  x.request_timer = std::make_unique<net::steady_timer>(stream_.get_executor());
  x.request_timer->expires_after(absl::ToChronoNanoseconds(config_.header_timeout));
  // Destroyed with the stream or at dispatch (operation_aborted then).
  x.request_timer->async_wait(
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
  Stream::Exchange& s = *it->second->exchange;
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
  if (it == streams_.end() || it->second->sink()) return 0;
  Stream::Exchange& s = *it->second->exchange;
  if (s.body_too_large) return 0;
  if (s.request.body().size() + len > s.body_limit) {
    s.body_too_large = true;
    s.request.body().clear();
    return 0;
  }
  s.request.body().append(reinterpret_cast<const char*>(data), len);
  return 0;
}

ssize_t H2Session::ReadBody(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (it->second->sink()) return ReadSinkData(*it->second, buf, length, flags);
  Stream::Exchange& s = *it->second->exchange;
  const size_t n = std::min(length, s.response_body.size() - s.sent);
  std::copy_n(s.response_body.data() + s.sent, n, buf);
  s.sent += n;
  if (s.sent == s.response_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

void H2Session::Dispatch(int32_t id) {
  Stream& st = *streams_.at(id);
  st.dispatched = true;
  Stream::Exchange& s = *st.exchange;
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
    // The taker keeps what it needs of the request; an SSE stream lives long
    // and idle, so the request phase is given back now.
    st.exchange.reset();  // Now a sink stream.
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
  Respond(id, router_->PlainResponse(request, path));
}

void H2Session::Respond(int32_t id, HttpResponse response, unsigned observed_status) {
  router_->ObserveResponse(observed_status != 0 ? observed_status : response.result_int());
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second->sink()) return;
  Stream::Exchange& s = *it->second->exchange;
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

// Taken-over HTTP/2 streams (SSE): the response head from the taker's
// first write, its writes as DATA frames within the stream's flow-control
// window, and the end.
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
  st.DropHooks();
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

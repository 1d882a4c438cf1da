#include "tests/testing/sse_client.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"

namespace tailgate::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct SseClient::Impl {
  net::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  std::array<char, 64 * 1024> chunk;

  // Runs the io_context until `done` or the deadline; cancels on timeout.
  bool RunUntil(const bool& done, absl::Time deadline) {
    ioc.restart();
    while (!done) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      ioc.run_one_for(std::chrono::microseconds(absl::ToInt64Microseconds(left) + 1));
    }
    if (done) return true;
    beast::error_code ec;
    socket.cancel(ec);
    ioc.restart();
    while (!done) ioc.run_one();
    return false;
  }
};

SseClient::SseClient() : impl_(std::make_unique<Impl>()) {}
SseClient::~SseClient() = default;

std::string SseClient::header(const std::string& lower_name) const {
  auto it = headers_.find(lower_name);
  return it == headers_.end() ? std::string() : it->second;
}

absl::StatusOr<std::unique_ptr<SseClient>> SseClient::Connect(
    const std::string& host, int port, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers, absl::Duration timeout) {
  std::unique_ptr<SseClient> c(new SseClient());
  Impl& im = *c->impl_;
  const absl::Time deadline = absl::Now() + timeout;
  beast::error_code ec;
  im.socket.connect(tcp::endpoint(net::ip::make_address(host), static_cast<uint16_t>(port)), ec);
  if (ec) return absl::UnavailableError("connect: " + ec.message());
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::accept, "text/event-stream");
  for (const auto& [name, value] : headers) req.set(name, value);
  http::write(im.socket, req, ec);
  if (ec) return absl::UnavailableError("write: " + ec.message());
  // Not boost::none: Beast 1.74 compares Content-Length against an empty optional.
  im.parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  bool done = false;
  beast::error_code read_ec;
  http::async_read_header(im.socket, im.buffer, im.parser, [&](beast::error_code e, size_t) {
    read_ec = e;
    done = true;
  });
  if (!im.RunUntil(done, deadline)) return absl::DeadlineExceededError("response head timeout");
  if (read_ec) return absl::UnavailableError("read head: " + read_ec.message());
  const auto& res = im.parser.get();
  c->status_ = res.result_int();
  for (const auto& field : res) {
    c->headers_[absl::AsciiStrToLower(
        absl::string_view(field.name_string().data(), field.name_string().size()))] =
        std::string(field.value());
  }
  if (c->status_ != 200) {
    // Read the whole (short) body.
    while (!im.parser.is_done()) {
      absl::Status s = c->ReadMore(deadline);
      if (!s.ok()) break;
    }
    c->body_ = c->raw_;
  }
  return c;
}

absl::Status SseClient::ReadMore(absl::Time deadline) {
  Impl& im = *impl_;
  if (ended_) return absl::OutOfRangeError("stream ended");
  if (im.parser.is_done()) {
    ended_ = true;
    clean_end_ = true;
    return absl::OutOfRangeError("stream ended");
  }
  im.parser.get().body().data = im.chunk.data();
  im.parser.get().body().size = im.chunk.size();
  bool done = false;
  beast::error_code ec;
  http::async_read_some(im.socket, im.buffer, im.parser, [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  });
  const bool in_time = im.RunUntil(done, deadline);
  // Bytes the read delivered count even when the deadline cancelled it
  // (the completion may already have been on its way).
  const size_t got = im.chunk.size() - im.parser.get().body().size;
  raw_.append(im.chunk.data(), got);
  pending_.append(im.chunk.data(), got);
  if (ec == http::error::need_buffer) ec = {};
  if (!in_time || ec == net::error::operation_aborted) {
    ParseLines();
    if (got > 0 && !ec) return absl::OkStatus();
    return absl::DeadlineExceededError("read timeout");
  }
  if (ec) {
    ended_ = true;
    clean_end_ = false;
    ParseLines();
    return absl::OutOfRangeError("stream ended: " + ec.message());
  }
  if (im.parser.is_done()) {
    ended_ = true;
    clean_end_ = true;
  }
  ParseLines();
  return absl::OkStatus();
}

void SseClient::ParseLines() {
  size_t pos = 0;
  while (true) {
    size_t end = pending_.find_first_of("\r\n", pos);
    if (end == std::string::npos) break;
    // A CR at the very end may be the first half of CRLF: wait for more.
    if (pending_[end] == '\r' && end + 1 == pending_.size() && !ended_) break;
    std::string line = pending_.substr(pos, end - pos);
    pos = end + ((pending_[end] == '\r' && end + 1 < pending_.size() && pending_[end + 1] == '\n')
                     ? 2
                     : 1);
    if (first_line_) {
      first_line_ = false;
      if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    }
    if (line.empty()) {
      if (data_buf_.empty()) {
        type_buf_.clear();
        continue;
      }
      SseEvent e;
      e.data = data_buf_.substr(0, data_buf_.size() - 1);  // Drop the last LF.
      e.type = type_buf_.empty() ? "message" : type_buf_;
      e.last_event_id = last_event_id_;
      ready_.push_back(std::move(e));
      data_buf_.clear();
      type_buf_.clear();
      continue;
    }
    if (line[0] == ':') {
      comments_.push_back(line.substr(1));
      continue;
    }
    std::string field, value;
    size_t colon = line.find(':');
    if (colon == std::string::npos) {
      field = line;
    } else {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    }
    if (field == "event") {
      type_buf_ = value;
    } else if (field == "data") {
      data_buf_ += value;
      data_buf_ += '\n';
    } else if (field == "id") {
      if (value.find('\0') == std::string::npos) last_event_id_ = value;
    } else if (field == "retry") {
      int64_t ms;
      bool digits = !value.empty();
      for (char ch : value) digits = digits && ch >= '0' && ch <= '9';
      if (digits && absl::SimpleAtoi(value, &ms)) retry_ms_ = ms;
    }
  }
  pending_.erase(0, pos);
}

absl::StatusOr<SseEvent> SseClient::Next(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (ready_.empty()) {
    absl::Status s = ReadMore(deadline);
    if (!s.ok() && ready_.empty()) return s;
  }
  SseEvent e = std::move(ready_.front());
  ready_.pop_front();
  return e;
}

absl::StatusOr<std::string> SseClient::NextComment(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (comments_consumed_ >= comments_.size()) {
    absl::Status s = ReadMore(deadline);
    if (!s.ok() && comments_consumed_ >= comments_.size()) return s;
  }
  return comments_[comments_consumed_++];
}

void SseClient::Close() {
  beast::error_code ec;
  impl_->socket.close(ec);
  ended_ = true;
}

}  // namespace tailgate::testing

#include "gateway/sse/session.h"

#include <array>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "gateway/diag/logging.h"
#include "gateway/sse/codec.h"
#include "gateway/sse/frame.h"
#include "gateway/sse/service.h"
#include "store/absl_view.h"

namespace tailgate {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// The last frame of a stream whose token expired. No `id:` field, so the
// client's Last-Event-ID stays at the last event it got and the reconnect
// (with a fresh token) resumes exactly there.
std::string TokenExpiredFrame() {
  return absl::StrCat("event: ", AbslView(kTokenExpiredEventType),
                      "\ndata: {\"reason\":\"token expired\"}\n\n");
}

// "1.2.3.4:5" / "[::1]:5" for the stream registry.
std::string FormatPeer(const tcp::endpoint& peer) {
  const std::string host = peer.address().to_string();
  return peer.address().is_v6() ? absl::StrCat("[", host, "]:", peer.port())
                                : absl::StrCat(host, ":", peer.port());
}

SseMetrics::CloseReason ToCloseReason(EndReason reason) {
  switch (reason) {
    case EndReason::kClientClosed: return SseMetrics::CloseReason::kClientClosed;
    case EndReason::kWriteError: return SseMetrics::CloseReason::kWriteError;
    case EndReason::kWriteTimeout: return SseMetrics::CloseReason::kWriteTimeout;
    case EndReason::kDraining: return SseMetrics::CloseReason::kDraining;
    case EndReason::kServerError: return SseMetrics::CloseReason::kServerError;
    case EndReason::kTokenExpired: return SseMetrics::CloseReason::kTokenExpired;
    case EndReason::kRevoked: return SseMetrics::CloseReason::kRevoked;
  }
  return SseMetrics::CloseReason::kClientClosed;
}

// A complete plain-text HTTP/1.1 response that closes the connection.
std::string TextResponseBytes(int code, std::string_view reason, std::string_view text) {
  const std::string body = absl::StrCat(AbslView(text), "\n");
  return absl::StrCat(
      "HTTP/1.1 ", code, " ", AbslView(reason), "\r\n",
      "Server: tailgate\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n",
      "Content-Length: ", body.size(), "\r\n\r\n", body);
}

// One SSE stream: the SSE wire (response head, chunked framing, the shared
// frames, heartbeats, the token-expired notice) of a Subscription, which
// decides the rest (gateway/core/subscription.h). Lives on its connection's
// strand. Over HTTP/1.1 it writes to the connection's socket; over HTTP/2
// to the stream's sink.
class SseSession final : public Subscription {
 public:
  // Over HTTP/1.1 `stream` and `slot` are the connection's; over HTTP/2,
  // `sink` is the stream's (and `stream`, `slot` are empty).
  SseSession(std::optional<HttpStream> stream, std::shared_ptr<ConnectionSlot> slot,
             std::shared_ptr<StreamSink> sink, net::any_io_executor executor, Hub* hub,
             const SseConfig& config, std::shared_ptr<std::atomic<int>> active,
             SseMetrics* metrics, std::string response_head, bool chunked,
             store::TopicFilter filter, SubscriptionOptions options, bool meta)
      : Subscription(hub, std::move(executor), std::move(filter), std::move(options)),
        socket_(stream ? std::make_unique<HttpStream>(*std::move(stream)) : nullptr),
        sink_(std::move(sink)),
        slot_(std::move(slot)),
        config_(config),
        active_(std::move(active)),
        metrics_(metrics),
        chunked_(chunked),
        meta_(meta),
        prefix_(std::move(response_head)) {
    active_->fetch_add(1);
    if (metrics_ != nullptr) {
      metrics_->connections->Add(1);
      metrics_->streams[protocol()]->Add(1);
    }
  }

  ~SseSession() override {
    active_->fetch_sub(1);
    if (metrics_ != nullptr) {
      metrics_->connections->Add(-1);
      metrics_->streams[protocol()]->Add(-1);
      metrics_->CountClosed(ToCloseReason(end_reason().value_or(EndReason::kClientClosed)));
    }
  }

  // On the strand: hooks up drain and the peer's close, then starts.
  void Run() {
    if (sink_) {
      sink_->OnDrain(weak_from_this(), &SseSession::Drained);
    } else {
      slot_->OnDrain(weak_from_this(), &SseSession::Drained);
    }
    ReadPeer();
    Start();
  }

 private:
  size_t protocol() const {
    return static_cast<size_t>(sink_ ? SseMetrics::Protocol::kHttp2 : SseMetrics::Protocol::kHttp1);
  }

  // The server drains (any thread): post to the strand.
  static void Drained(const std::shared_ptr<void>& owner) {
    auto self = std::static_pointer_cast<SseSession>(owner);
    net::any_io_executor strand = self->strand();
    net::post(strand, [self = std::move(self)] { self->Drain(); });
  }

  std::shared_ptr<SseSession> self() {
    return std::static_pointer_cast<SseSession>(shared_from_this());
  }

  void WriteOpening(uint64_t, std::optional<Cursor::Batch> first) override {
    if (metrics_ != nullptr) {
      metrics_->opened->Increment();
      metrics_->streams_opened[protocol()]->Increment();
    }
    // Headers and retry: go out at once (with the first batch only when it
    // was there already), so the client sees the stream open even when
    // nothing matches for a while.
    std::string text;
    if (config_.retry > absl::ZeroDuration()) {
      text = absl::StrCat("retry: ", absl::ToInt64Milliseconds(config_.retry), "\n\n");
    } else {
      text = ": ok\n\n";
    }
    if (first) return WriteEvents(std::move(text), *std::move(first));
    StartWrite(std::move(text), {});
  }

  void WriteBatch(Cursor::Batch batch) override { WriteEvents(std::string(), std::move(batch)); }

  // `text`, then the batch: a reset, its events, the caught-up marker.
  void WriteEvents(std::string text, Cursor::Batch batch) {
    if (batch.reset) text += EncodeResetFrame(*batch.reset);
    if (metrics_ != nullptr) {
      // Per batch, not per event: a few relaxed atomics.
      if (batch.reset) metrics_->resets->Increment();
      if (!batch.events.empty()) {
        const uint64_t watermark = hub()->log()->Watermark();
        const uint64_t cursor = batch.events.back()->event.id;
        metrics_->lag_events->Observe(
            static_cast<double>(watermark > cursor ? watermark - cursor : 0));
      }
      in_flight_from_store_ = batch.from_store;
    }
    // The caught-up marker goes after the batch's events.
    StartWrite(std::move(text), std::move(batch.events),
               batch.live ? EncodeLiveFrame(batch.live_at) : std::string());
  }

  void WriteHeartbeat() override {
    if (metrics_ != nullptr) metrics_->heartbeats->Increment();
    StartWrite(std::string(": hb\n\n"), {});
  }

  void WriteEnd(const Ending& ending) override {
    if (!ending.started) return WriteRefusal(ending);
    // The token-expired notice, then (chunked) the last chunk.
    std::string last =
        ending.reason == EndReason::kTokenExpired ? TokenExpiredFrame() : std::string();
    if (!chunked_ && last.empty()) return WriteDone(true);
    StartWrite(std::move(last), {}, std::string(), /*last=*/true);
  }

  // Nothing was sent yet: the whole answer.
  void WriteRefusal(const Ending& ending) {
    const absl::Status& s = ending.status;
    if (ending.reason == EndReason::kRevoked) {
      // Revoked between the request's check and the start.
      const bool unauthenticated = absl::IsUnauthenticated(s);
      prefix_ = TextResponseBytes(unauthenticated ? 401 : 403,
                                         unauthenticated ? "Unauthorized" : "Forbidden",
                                         std::string(s.message()));
      chunked_ = false;
      return StartWrite(std::string(), {});
    }
    if (absl::IsUnavailable(s)) {
      // Draining, or the store cannot answer right now (e.g. whether a
      // Last-Event-ID exists, while NATS is unreachable): the stream's own
      // head (CORS included), a `retry:` back-off and the end, so that an
      // EventSource comes back by itself (see RetryLaterBody).
      return StartWrite(
          RetryLaterBody(absl::StrCat("unavailable: ", s.message()), config_.busy_retry), {},
          std::string(), /*last=*/true);
    }
    prefix_ = TextResponseBytes(500, "Internal Server Error",
                                       absl::StrCat("storage error: ", s.message()));
    chunked_ = false;
    StartWrite(std::string(), {});
  }

  void CloseTransport(const Ending&) override {
    in_flight_.clear();
    if (sink_) return sink_->End();
    beast::error_code ec;
    socket_->socket().shutdown(tcp::socket::shutdown_both, ec);
    socket_->close();
  }

  // One gathered write:
  // [HTTP head][chunk size][text][shared frames...][after][CRLF][last chunk].
  void StartWrite(std::string text, std::vector<EncodedEventPtr> frames,
                  std::string after = std::string(), bool last = false) {
    size_t frame_bytes = 0;
    for (const EncodedEventPtr& f : frames) frame_bytes += AsSse(*f).FrameBytes(meta_);
    const size_t body = text.size() + frame_bytes + after.size();
    in_flight_bytes_ = frame_bytes;  // The frames as sent (meta=1 included), for metrics.
    // The first write starts with the response head, which prefix_ holds
    // until then.
    if (!head_pending_) prefix_.clear();  // Keeps its capacity.
    head_pending_ = false;
    suffix_ = std::move(after);
    if (chunked_ && body > 0) {
      absl::StrAppend(&prefix_, absl::Hex(body), "\r\n");
      suffix_ += "\r\n";
    }
    prefix_ += text;
    if (chunked_ && last) suffix_ += "0\r\n\r\n";
    in_flight_ = std::move(frames);
    buffers_.clear();
    buffers_.reserve(5 * in_flight_.size() + 2);
    if (!prefix_.empty()) buffers_.push_back(net::buffer(prefix_));
    for (const EncodedEventPtr& f : in_flight_) {
      AsSse(*f).AppendFrame(
          &buffers_, [](const char* p, size_t n) { return net::buffer(p, n); }, meta_);
    }
    if (!suffix_.empty()) buffers_.push_back(net::buffer(suffix_));
    if (sink_) {
      // HTTP/2: DATA frames of this stream, as its flow-control window allows.
      return sink_->AsyncWrite({buffers_.begin(), buffers_.end()}, [self = self()](beast::error_code ec) {
        self->OnWrite(ec);
      });
    }
    if (socket_->can_write_now()) {
      // The fast path: the socket buffer almost always has room, so the write
      // completes here without an event-loop round trip (which costs more
      // than the syscall for one small frame). Only the rest of a partial
      // write goes through async_write.
      beast::error_code ec;
      const size_t total = prefix_.size() + frame_bytes + suffix_.size();
      const size_t sent = socket_->write_now(buffers_.begin(), buffers_.end(), ec);
      if (ec || sent == total) return OnWrite(ec);
      DropWritten(sent);
    }
    net::async_write(*socket_, buffers_, [self = self()](beast::error_code ec, std::size_t) {
      self->OnWrite(ec);
    });
  }

  // A stream is idle most of its life: after a large write (the response
  // head, a replay batch of hundreds of frames), give back what an idle
  // stream does not need, so its memory is that of its next small write.
  void ReleaseWriteBuffers() {
    constexpr size_t kKeep = 8;  // Enough for a few live events per write.
    if (buffers_.capacity() > 3 * kKeep + 2) {
      buffers_.clear();
      buffers_.shrink_to_fit();
    }
    if (in_flight_.capacity() > kKeep) std::vector<EncodedEventPtr>().swap(in_flight_);
    if (prefix_.capacity() > 64) std::string().swap(prefix_);
  }

  // Removes the first `n` bytes from buffers_.
  void DropWritten(size_t n) {
    size_t i = 0;
    while (i < buffers_.size() && n >= buffers_[i].size()) n -= buffers_[i++].size();
    buffers_.erase(buffers_.begin(), buffers_.begin() + static_cast<std::ptrdiff_t>(i));
    if (n > 0) buffers_.front() += n;
  }

  void OnWrite(beast::error_code ec) {
    if (metrics_ != nullptr && !ec && !in_flight_.empty()) {
      (in_flight_from_store_ ? metrics_->events_store : metrics_->events_cache)
          ->Increment(in_flight_.size());
      metrics_->bytes->Increment(in_flight_bytes_);
    }
    in_flight_.clear();
    ReleaseWriteBuffers();
    if (ec) {
      TG_LOG(DEBUG) << "sse write: " << ec.message();
    }
    WriteDone(!ec);
  }

  // The client sends nothing after its request; a read completing means it
  // closed (or reset) the connection: stop at once instead of at the next write.
  // An idle stream waits for readability on the socket (a small reactor
  // operation) rather than with a read through the Beast stream, whose
  // pending operation is several times larger; the read starts only once
  // bytes or the close are there, and then completes at once.
  void ReadPeer() {
    if (sink_) {
      // The hook holds the session, as the pending wait below does over
      // HTTP/1.1: an idle stream's only owner is its transport.
      return sink_->OnPeerClosed(self(), [](const std::shared_ptr<void>& owner) {
        static_cast<SseSession*>(owner.get())->PeerClosed();
      });
    }
    socket_->socket().async_wait(
        tcp::socket::wait_read, [self = self()](beast::error_code ec) {
          if (ec) return self->PeerClosed();
          self->socket_->async_read_some(net::buffer(self->read_buf_),
                                        [self](beast::error_code ec, std::size_t) {
                                          if (ec) return self->PeerClosed();
                                          self->ReadPeer();
                                        });
        });
  }

  // HTTP/1.1: plain or TLS. Out of line: an HTTP/2 stream has none, and
  // there are many of them per connection.
  std::unique_ptr<HttpStream> socket_;
  std::shared_ptr<StreamSink> sink_;  // HTTP/2.
  std::shared_ptr<ConnectionSlot> slot_;
  const SseConfig& config_;
  std::shared_ptr<std::atomic<int>> active_;
  SseMetrics* const metrics_;
  bool head_pending_ = true;  // prefix_ holds the response head, not sent yet.
  bool chunked_;
  const bool meta_;  // ?meta=1: frames with topic: and time: fields
  bool in_flight_from_store_ = false;
  size_t in_flight_bytes_ = 0;
  std::string prefix_;
  std::string suffix_;
  std::vector<EncodedEventPtr> in_flight_;
  // Inline room for the writes of an idle stream (a heartbeat, the opening:
  // one or two buffers), so an idle stream holds no buffer list of its own.
  absl::InlinedVector<net::const_buffer, 2> buffers_;
  // Only to notice the peer closing: it sends nothing after its request.
  std::array<char, 16> read_buf_;
};

// `base` plus up to half of it again, at random: clients refused together
// (a full server, a drain) spread their reconnects instead of returning at
// the same instant.
absl::Duration Jittered(absl::Duration base) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t ms = absl::ToInt64Milliseconds(base);
  if (ms <= 1) return base;
  return absl::Milliseconds(ms + static_cast<int64_t>(rng() % static_cast<uint64_t>(ms / 2 + 1)));
}

}  // namespace

// The whole body of a stream that cannot be served now. A browser's
// EventSource reconnects by itself only after a stream that ended (an error
// status such as 503 leaves it CLOSED for good), so "come back later" is a
// 200 stream carrying the back-off as `retry:` and ending at once. No `id:`:
// the client's Last-Event-ID stays where it was. `why` goes into a comment
// line (printable ASCII only).
std::string RetryLaterBody(std::string_view why, absl::Duration retry) {
  std::string reason;
  for (char c : why.substr(0, 200)) reason += (c >= 0x20 && c <= 0x7e) ? c : '?';
  const int64_t ms = absl::ToInt64Milliseconds(Jittered(retry));
  return absl::StrCat(": ", reason, "; reconnect in ", ms, " ms\nretry: ", ms, "\n\n");
}

void StartSseSession(std::optional<HttpStream> stream, std::shared_ptr<ConnectionSlot> slot,
                     std::shared_ptr<StreamSink> sink, SseStream params) {
  if (params.options.presence != nullptr) {
    if (sink) {
      params.options.stream.remote = sink->peer();
    } else {
      beast::error_code ec;
      const tcp::endpoint peer = stream->socket().remote_endpoint(ec);
      if (!ec) params.options.stream.remote = FormatPeer(peer);
    }
  }
  net::any_io_executor executor = sink ? sink->get_executor() : stream->get_executor();
  auto session = std::make_shared<SseSession>(
      std::move(stream), std::move(slot), std::move(sink), std::move(executor), params.hub,
      *params.config, std::move(params.active), params.metrics, std::move(params.head),
      params.chunked, std::move(params.filter), std::move(params.options), params.meta);
  session->Run();
}

}  // namespace tailgate

#include "gateway/sse/service.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <chrono>
#include <random>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/auth/redact.h"
#include "gateway/logging.h"
#include "gateway/sse/codec.h"
#include "gateway/sse/frame.h"
#include "gateway/sse/request.h"
#include "store/topic.h"

namespace tailgate {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string_view HeaderValue(const HttpRequest& request, std::string_view name) {
  auto it = request.find(beast::string_view(name.data(), name.size()));
  if (it == request.end()) return {};
  return std::string_view(it->value().data(), it->value().size());
}

// Printable ASCII without quotes: safe to echo in a one-line reason.
bool Echoable(std::string_view s) {
  if (s.size() > 80) return false;
  for (char c : s) {
    if (c < 0x21 || c > 0x7e || c == '"') return false;
  }
  return true;
}

std::string StatusLine(int code, std::string_view reason) {
  return absl::StrCat("HTTP/1.1 ", code, " ", Av(reason), "\r\n");
}

// The last frame of a stream whose token expired. No `id:` field, so the
// client's Last-Event-ID stays at the last event it got and the reconnect
// (with a fresh token) resumes exactly there.
std::string TokenExpiredFrame() {
  return absl::StrCat("event: ", Av(kTokenExpiredEventType),
                      "\ndata: {\"reason\":\"token expired\"}\n\n");
}

// `valid_until` on the steady clock the session's timer runs on;
// time_point::max() for never.
Clock::time_point SteadyDeadline(absl::Time valid_until) {
  if (valid_until == absl::InfiniteFuture()) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(
                            TokenTimeLeft(valid_until, absl::Now())));
}

// `base` plus up to half of it again, at random: clients refused together
// (a full server, a drain) spread their reconnects instead of returning at
// the same instant.
absl::Duration Jittered(absl::Duration base) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t ms = absl::ToInt64Milliseconds(base);
  if (ms <= 1) return base;
  return absl::Milliseconds(ms + static_cast<int64_t>(rng() % static_cast<uint64_t>(ms / 2 + 1)));
}

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

// "1.2.3.4:5" / "[::1]:5" for the stream registry.
std::string FormatPeer(const tcp::endpoint& peer) {
  const std::string host = peer.address().to_string();
  return peer.address().is_v6() ? absl::StrCat("[", host, "]:", peer.port())
                                : absl::StrCat(host, ":", peer.port());
}

// One SSE stream. Lives on its connection's strand.
class SseSession : public std::enable_shared_from_this<SseSession> {
 public:
  // `auth_deadline`: when the token that authorized the stream stops being
  // valid (time_point::max() without auth); the stream ends there.
  // Over HTTP/1.1 `stream` and `slot` are the connection's; over HTTP/2,
  // `sink` is the stream's (and `stream`, `slot` are empty).
  SseSession(std::optional<HttpStream> stream, std::shared_ptr<ConnectionSlot> slot,
             std::shared_ptr<StreamSink> sink, Hub* hub,
             const SseConfig& config, std::shared_ptr<std::atomic<int>> active,
             std::string response_head, bool chunked, store::TopicFilter filter, ResumeSpec spec,
             Clock::time_point auth_deadline, bool live_marker, bool meta)
      : socket_(std::move(stream)),
        sink_(std::move(sink)),
        executor_(sink_ ? sink_->get_executor() : socket_->get_executor()),
        slot_(std::move(slot)),
        hub_(hub),
        config_(config),
        active_(std::move(active)),
        response_head_(std::move(response_head)),
        chunked_(chunked),
        filter_(std::move(filter)),
        spec_(spec),
        auth_deadline_(auth_deadline),
        live_marker_(live_marker),
        meta_(meta),
        timer_(executor_) {
    active_->fetch_add(1);
  }

  ~SseSession() {
    active_->fetch_sub(1);
    if (metrics_ != nullptr) {
      metrics_->connections->Add(-1);
      metrics_->CountClosed(close_reason_.value_or(SseMetrics::CloseReason::kClientClosed));
    }
  }

  // Before Start: register with `registry` (when non-null) once the stream
  // starts. It must outlive the session.
  void set_presence(StreamRegistry* registry, std::string subject) {
    presence_ = registry;
    subject_ = std::move(subject);
  }

  // Before Start. `metrics` must outlive the session. Optional.
  void set_metrics(SseMetrics* metrics) {
    metrics_ = metrics;
    if (metrics_ != nullptr) metrics_->connections->Add(1);
  }

  void Start() {
    auto drain = [weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        net::post(self->executor_, [self] { self->OnDrain(); });
      }
    };
    if (sink_) {
      sink_->OnDrain(std::move(drain));
    } else {
      slot_->OnDrain(std::move(drain));
    }
    ReadPeer();
    // Where to start may need a store lookup (since=...): it completes on a
    // store thread or inline, and continues on the strand.
    hub_->ResolveStart(spec_, filter_, [self = shared_from_this()](absl::StatusOr<Hub::Start> s) {
      net::post(self->executor_,
                [self, s = std::move(s)]() mutable { self->OnResolved(std::move(s)); });
    });
  }

 private:
  void OnResolved(absl::StatusOr<Hub::Start> start) {
    if (closed_) return;
    if (!start.ok()) {
      TG_LOG(WARNING) << "sse: cannot resolve resume point: " << start.status().ToString();
      const bool shutting_down = start.status().code() == absl::StatusCode::kUnavailable;
      SetCloseReason(shutting_down ? SseMetrics::CloseReason::kDraining
                                   : SseMetrics::CloseReason::kServerError);
      ending_ = true;
      final_written_ = true;
      if (shutting_down) {
        // Draining, or the store cannot answer right now (e.g. whether a
        // Last-Event-ID exists, while NATS is unreachable): the stream's own
        // head (CORS included), a `retry:` back-off and the end, so that an
        // EventSource comes back by itself (see RetryLaterBody).
        return StartWrite(RetryLaterBody(absl::StrCat("unavailable: ", start.status().message()),
                                         config_.busy_retry),
                          {});
      }
      // Nothing was sent yet: a plain error response.
      std::string body = absl::StrCat("storage error: ", start.status().message(), "\n");
      response_head_ = absl::StrCat(
          StatusLine(500, "Internal Server Error"),
          "Server: tailgate\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n",
          "Content-Length: ", body.size(), "\r\n\r\n", body);
      chunked_ = false;
      return StartWrite(std::string(), {});
    }
    if (!RegisterStream(start->position)) return;
    started_ = true;
    if (metrics_ != nullptr) metrics_->opened->Increment();
    start->notify_live = live_marker_;
    // The cursor keeps the filter; the session has no further use for it.
    cursor_ = std::make_shared<Cursor>(hub_, executor_, std::move(filter_),
                                       *std::move(start));
    // Headers and retry: go out at once, so the client sees the stream open
    // even when nothing matches for a while.
    std::string text;
    if (config_.retry > absl::ZeroDuration()) {
      text = absl::StrCat("retry: ", absl::ToInt64Milliseconds(config_.retry), "\n\n");
    } else {
      text = ": ok\n\n";
    }
    StartWrite(std::move(text), {});
    RequestNext();
  }

  // Joins the stream registry. False (with a 401/403 on its way) when a
  // revocation made between the request's check and now refuses it.
  bool RegisterStream(uint64_t position) {
    if (presence_ == nullptr) return true;
    std::string peer_name;
    if (sink_) {
      peer_name = sink_->peer();
    } else {
      beast::error_code ec;
      const tcp::endpoint peer = socket_->tcp().socket().remote_endpoint(ec);
      if (!ec) peer_name = FormatPeer(peer);
    }
    StreamInfo info{subject_, filter_.patterns(), "sse", std::move(peer_name), absl::Now()};
    // The registry calls this from an admin thread: only post to the strand.
    absl::StatusOr<StreamRegistry::Registration> r = presence_->Register(
        std::move(info), position, [weak = weak_from_this()](const absl::Status& reason) {
          if (auto self = weak.lock()) {
            net::post(self->executor_, [self, reason] { self->OnRevoked(reason); });
          }
        });
    if (r.ok()) {
      registration_ = *std::move(r);
      return true;
    }
    SetCloseReason(SseMetrics::CloseReason::kRevoked);
    ending_ = true;
    final_written_ = true;
    const bool unauthenticated = absl::IsUnauthenticated(r.status());
    std::string body = absl::StrCat(r.status().message(), "\n");
    response_head_ = absl::StrCat(
        StatusLine(unauthenticated ? 401 : 403, unauthenticated ? "Unauthorized" : "Forbidden"),
        "Server: tailgate\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n",
        "Content-Length: ", body.size(), "\r\n\r\n", body);
    chunked_ = false;
    StartWrite(std::string(), {});
    return false;
  }

  // An admin revoked the stream's subject or a pattern covering it: it ends
  // like a drain (after the write in flight). The EventSource's reconnect is
  // then refused with 401 / 403.
  void OnRevoked(const absl::Status& reason) {
    if (closed_) return;
    // DEBUG: a pattern revocation may end thousands; Revoke logs the count.
    TG_LOG(DEBUG) << "sse: ending a stream of " << (subject_.empty() ? "(no subject)" : subject_)
                 << ": " << reason.message();
    SetCloseReason(SseMetrics::CloseReason::kRevoked);
    queued_.reset();
    End();
  }

  void RequestNext() {
    if (next_pending_ || closed_ || ending_ || !cursor_) return;
    next_pending_ = true;
    cursor_->Next([self = shared_from_this()](Cursor::Batch batch) {
      self->OnBatch(std::move(batch));
    });
  }

  void OnBatch(Cursor::Batch batch) {
    next_pending_ = false;
    if (closed_ || ending_) return;  // The end is decided: not one more event.
    if (!batch.status.ok()) {
      // Hub stopped or the store failed: end cleanly; the client resumes
      // from its last id elsewhere or later.
      SetCloseReason(batch.status.code() == absl::StatusCode::kUnavailable
                         ? SseMetrics::CloseReason::kDraining
                         : SseMetrics::CloseReason::kServerError);
      return End();
    }
    if (writing_) {
      queued_ = std::move(batch);
      return;
    }
    WriteBatch(std::move(batch));
  }

  void WriteBatch(Cursor::Batch batch) {
    // The timer may not have run yet at the deadline: check here too, so
    // nothing read after the token expired goes out. (No clock read per
    // batch for streams without a token.)
    if (auth_deadline_ != Clock::time_point::max() && Clock::now() >= auth_deadline_) {
      return OnTokenExpired();
    }
    std::string text;
    if (batch.reset) text = EncodeResetFrame(*batch.reset);
    if (metrics_ != nullptr) {
      // Per batch, not per event: a few relaxed atomics.
      if (batch.reset) metrics_->resets->Increment();
      if (!batch.events.empty()) {
        const uint64_t watermark = hub_->log()->Watermark();
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

  // One gathered write:
  // [HTTP head][chunk size][text][shared frames...][after][CRLF][last chunk].
  void StartWrite(std::string text, std::vector<EncodedEventPtr> frames,
                  std::string after = std::string()) {
    size_t frame_bytes = 0;
    for (const EncodedEventPtr& f : frames) frame_bytes += AsSse(*f).FrameBytes(meta_);
    const size_t body = text.size() + frame_bytes + after.size();
    in_flight_bytes_ = frame_bytes;  // The frames as sent (meta=1 included), for metrics.
    if (response_head_.empty()) {
      prefix_.clear();  // Keeps its capacity.
    } else {
      prefix_ = std::move(response_head_);
      response_head_.clear();
    }
    suffix_ = std::move(after);
    if (chunked_ && body > 0) {
      absl::StrAppend(&prefix_, absl::Hex(body), "\r\n");
      suffix_ += "\r\n";
    }
    prefix_ += text;
    if (chunked_ && final_written_) suffix_ += "0\r\n\r\n";
    in_flight_ = std::move(frames);
    buffers_.clear();
    buffers_.reserve(5 * in_flight_.size() + 2);
    if (!prefix_.empty()) buffers_.push_back(net::buffer(prefix_));
    for (const EncodedEventPtr& f : in_flight_) {
      AsSse(*f).AppendFrame(
          &buffers_, [](const char* p, size_t n) { return net::buffer(p, n); }, meta_);
    }
    if (!suffix_.empty()) buffers_.push_back(net::buffer(suffix_));
    writing_ = true;
    write_started_ = Clock::now();
    if (started_) {
      ArmTimerBy(write_started_ + absl::ToChronoNanoseconds(config_.write_timeout));
    }
    if (sink_) {
      // HTTP/2: DATA frames of this stream, as its flow-control window allows.
      return sink_->AsyncWrite(buffers_, [self = shared_from_this()](beast::error_code ec) {
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
    net::async_write(*socket_, buffers_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->OnWrite(ec);
                     });
  }

  // A stream is idle most of its life: after a large write (the response
  // head, a replay batch of hundreds of frames), give back what an idle
  // stream does not need, so its memory is that of its next small write.
  void ReleaseWriteBuffers() {
    constexpr size_t kKeep = 8;  // Enough for a few live events per write.
    if (buffers_.capacity() > 3 * kKeep + 2) std::vector<net::const_buffer>().swap(buffers_);
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
    writing_ = false;
    if (metrics_ != nullptr && !ec && !in_flight_.empty()) {
      (in_flight_from_store_ ? metrics_->events_store : metrics_->events_cache)
          ->Increment(in_flight_.size());
      metrics_->bytes->Increment(in_flight_bytes_);
    }
    if (!ec && !in_flight_.empty()) registration_.set_position(in_flight_.back()->event.id);
    in_flight_.clear();
    ReleaseWriteBuffers();
    last_activity_ = Clock::now();
    if (closed_) return;
    if (ec) {
      TG_LOG(DEBUG) << "sse write: " << ec.message();
      SetCloseReason(SseMetrics::CloseReason::kWriteError);
      return Close();
    }
    if (ending_) return final_written_ ? Close() : End();
    if (draining_) return End();
    ArmTimerBy(last_activity_ + absl::ToChronoNanoseconds(config_.heartbeat));
    if (queued_) {
      Cursor::Batch batch = std::move(*queued_);
      queued_.reset();
      return WriteBatch(std::move(batch));
    }
    RequestNext();
  }

  // Ends the stream after the write in flight: the last chunk, then close.
  void End() {
    if (closed_) return;
    ending_ = true;
    if (writing_) return;  // OnWrite comes back here.
    if (cursor_) cursor_->Close();
    if (!started_ || final_written_) return Close();
    // The token-expired notice, then (chunked) the last chunk.
    std::string last = token_expired_ ? TokenExpiredFrame() : std::string();
    if (!chunked_ && last.empty()) return Close();
    final_written_ = true;
    StartWrite(std::move(last), {});
  }

  // The token's valid_until passed: no more events or heartbeats; the
  // write in flight (started before) completes, then the notice and the end.
  // Events read but not sent are dropped: the client's Last-Event-ID still
  // points before them, so its reconnect replays them.
  void OnTokenExpired() {
    if (closed_ || token_expired_) return;
    token_expired_ = true;
    SetCloseReason(SseMetrics::CloseReason::kTokenExpired);
    TG_LOG(DEBUG) << "sse: token expired; ending the stream";
    queued_.reset();
    End();
  }

  void OnDrain() {
    if (closed_) return;
    SetCloseReason(SseMetrics::CloseReason::kDraining);
    draining_ = true;
    if (!started_) return Close();
    End();
  }

  void ArmTimer() {
    const auto heartbeat_at = last_activity_ + absl::ToChronoNanoseconds(config_.heartbeat);
    ArmTimerAt(writing_ ? write_started_ + absl::ToChronoNanoseconds(config_.write_timeout)
                        : heartbeat_at);
  }

  // The timer fires at `at` at the latest (it re-checks what is due).
  void ArmTimerBy(Clock::time_point at) {
    if (!timer_armed_ || timer_.expiry() > at) ArmTimerAt(at);
  }

  void ArmTimerAt(Clock::time_point at) {
    if (!token_expired_) at = std::min(at, auth_deadline_);
    timer_armed_ = true;
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec == net::error::operation_aborted) return;  // Re-armed or closed.
      self->OnTimer();
    });
  }

  void OnTimer() {
    timer_armed_ = false;
    if (closed_) return;
    const Clock::time_point now = Clock::now();
    if (now >= auth_deadline_) {
      OnTokenExpired();
      if (closed_) return;
    }
    if (writing_) {
      if (now - write_started_ >= absl::ToChronoNanoseconds(config_.write_timeout)) {
        TG_LOG(DEBUG) << "sse: write timed out after " << config_.write_timeout
                      << "; dropping the peer";
        SetCloseReason(SseMetrics::CloseReason::kWriteTimeout);
        return Close();
      }
    } else if (!ending_ && now - last_activity_ >= absl::ToChronoNanoseconds(config_.heartbeat)) {
      if (metrics_ != nullptr) metrics_->heartbeats->Increment();
      StartWrite(std::string(": hb\n\n"), {});
      if (closed_) return;  // The write failed at once.
    }
    ArmTimer();
  }

  // The client sends nothing after its request; a read completing means it
  // closed (or reset) the connection: stop at once instead of at the next write.
  // An idle stream waits for readability on the socket (a small reactor
  // operation) rather than with a read through the Beast stream, whose
  // pending operation is several times larger; the read starts only once
  // bytes or the close are there, and then completes at once.
  void ReadPeer() {
    if (sink_) {
      return sink_->OnPeerClosed([weak = weak_from_this()] {
        if (auto self = weak.lock(); self && !self->closed_) self->Close();
      });
    }
    socket_->tcp().socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
          if (self->closed_) return;
          if (ec) return self->Close();
          self->socket_->async_read_some(net::buffer(self->read_buf_),
                                        [self](beast::error_code ec, std::size_t) {
                                          if (self->closed_) return;
                                          if (ec) return self->Close();
                                          self->ReadPeer();
                                        });
        });
  }

  // The first reason given is the one counted when the session ends.
  void SetCloseReason(SseMetrics::CloseReason reason) {
    if (!close_reason_) close_reason_ = reason;
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    registration_.Reset();  // Off ListStreams at once, not when the last handler lets go.
    if (cursor_) cursor_->Close();
    queued_.reset();
    beast::error_code ec;
    timer_.cancel();
    if (sink_) return sink_->End();
    socket_->tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    socket_->close();
  }

  std::optional<HttpStream> socket_;  // HTTP/1.1: plain or TLS.
  std::shared_ptr<StreamSink> sink_;  // HTTP/2.
  net::any_io_executor executor_;     // The connection's strand.
  std::shared_ptr<ConnectionSlot> slot_;
  Hub* const hub_;
  const SseConfig& config_;
  std::shared_ptr<std::atomic<int>> active_;
  std::string response_head_;  // Sent with the first write.
  bool chunked_;
  store::TopicFilter filter_;
  ResumeSpec spec_;
  const Clock::time_point auth_deadline_;
  const bool live_marker_;  // ?live=1
  const bool meta_;         // ?meta=1: frames with topic: and time: fields
  std::shared_ptr<Cursor> cursor_;
  net::steady_timer timer_;
  bool timer_armed_ = false;

  bool started_ = false;
  bool writing_ = false;
  bool next_pending_ = false;
  bool draining_ = false;
  bool ending_ = false;
  bool final_written_ = false;  // The last chunk is (being) written.
  bool token_expired_ = false;
  bool closed_ = false;
  std::optional<Cursor::Batch> queued_;
  std::string prefix_;
  std::string suffix_;
  std::vector<EncodedEventPtr> in_flight_;
  std::vector<net::const_buffer> buffers_;
  Clock::time_point write_started_;
  Clock::time_point last_activity_ = Clock::now();
  // Only to notice the peer closing: it sends nothing after its request.
  std::array<char, 16> read_buf_;
  SseMetrics* metrics_ = nullptr;
  StreamRegistry* presence_ = nullptr;
  std::string subject_;
  StreamRegistry::Registration registration_;
  std::optional<SseMetrics::CloseReason> close_reason_;
  bool in_flight_from_store_ = false;
  size_t in_flight_bytes_ = 0;
};

}  // namespace

SseService::SseService(Hub* hub, const SseConfig& config, const JwtVerifier* verifier,
                       TokenSources token_sources)
    : hub_(hub),
      config_(config),
      verifier_(verifier),
      token_sources_(std::move(token_sources)),
      active_(std::make_shared<std::atomic<int>>(0)) {
  // Sessions write the hub's shared SSE frames (AsSse): a hub built without
  // them is a wiring error, found at start-up rather than at the first event.
  if (&hub_->encoder() != &SseEventEncoder()) {
    TG_LOG(ERROR) << "SseService needs a hub with HubOptions::encoder = &SseEventEncoder()";
    std::abort();
  }
  any_origin_ =
      std::find(config_.cors_origins.begin(), config_.cors_origins.end(), "*") !=
      config_.cors_origins.end();
}

void SseService::Register(HttpRouter* router) {
  router->Handle(std::string(kEventsPath),
                 [this](const HttpRequest& request) { return HandleNonGet(request); });
  router->HandleStream(
      std::string(kEventsPath), [this](const HttpRequest& request) { return HandleGet(request); },
      [this](const HttpRequest& request, bool draining) { return Busy(request, draining); });
  router->Handle(std::string(kPositionPath),
                 [this](const HttpRequest& request) { return HandlePosition(request); });
}

HttpResponse SseService::Busy(const HttpRequest& request, bool draining) const {
  HttpResponse res{http::status::ok, request.version()};
  res.set(http::field::server, "tailgate");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-store");
  // For clients other than EventSource (the value in whole seconds).
  res.set(http::field::retry_after,
          std::to_string(std::max<int64_t>(1, absl::ToInt64Seconds(config_.busy_retry))));
  for (auto& [name, value] : CorsHeaders(request)) res.set(name, value);
  res.body() = RetryLaterBody(draining ? "server is draining" : "too many connections",
                              config_.busy_retry);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

std::optional<std::string> SseService::AllowedOrigin(const HttpRequest& request) const {
  if (config_.cors_origins.empty()) return std::nullopt;
  const std::string_view origin = HeaderValue(request, "Origin");
  if (origin.empty()) return std::nullopt;
  // "*" never goes with credentials (main refuses the combination; a library
  // caller that sets both still gets no credentialed access from every site).
  if (any_origin_) return std::string("*");
  for (const std::string& allowed : config_.cors_origins) {
    if (allowed == origin) return std::string(origin);
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> SseService::CorsHeaders(
    const HttpRequest& request) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (config_.cors_origins.empty()) return out;
  // The answer depends on Origin unless it is "*" for everyone.
  if (!any_origin_) out.emplace_back("Vary", "Origin");
  if (std::optional<std::string> origin = AllowedOrigin(request)) {
    out.emplace_back("Access-Control-Allow-Origin", *origin);
    if (config_.cors_credentials && !any_origin_) {
      out.emplace_back("Access-Control-Allow-Credentials", "true");
    }
  }
  return out;
}

HttpResponse SseService::Refuse(const HttpRequest& request, http::status status,
                                std::string reason) const {
  HttpResponse res = TextResponse(request, status, reason + "\n");
  for (auto& [name, value] : CorsHeaders(request)) res.set(name, value);
  return res;
}

HttpResponse SseService::HandleNonGet(const HttpRequest& request) const {
  if (request.method() != http::verb::options) {
    HttpResponse res = Refuse(request, http::status::method_not_allowed,
                              "method not allowed: use GET (or OPTIONS for a CORS preflight)");
    res.set(http::field::allow, "GET, OPTIONS");
    return res;
  }
  const bool has_origin = !HeaderValue(request, "Origin").empty();
  if (has_origin && !config_.cors_origins.empty() && !AllowedOrigin(request)) {
    return Refuse(request, http::status::forbidden,
                  absl::StrCat("origin not allowed: ",
                               Echoable(HeaderValue(request, "Origin"))
                                   ? Av(HeaderValue(request, "Origin"))
                                   : absl::string_view("(unprintable)"),
                               " (see --cors_origins)"));
  }
  HttpResponse res{http::status::no_content, request.version()};
  res.set(http::field::server, "tailgate");
  res.set(http::field::allow, "GET, OPTIONS");
  for (auto& [name, value] : CorsHeaders(request)) res.set(name, value);
  if (AllowedOrigin(request)) {
    res.set(http::field::access_control_allow_methods, "GET, OPTIONS");
    res.set(http::field::access_control_allow_headers,
            "Authorization, Last-Event-ID, Cache-Control, Accept");
    res.set(http::field::access_control_max_age, "600");
  }
  res.keep_alive(request.keep_alive());
  res.prepare_payload();
  return res;
}

StreamDecision SseService::HandleGet(const HttpRequest& request) const {
  StreamDecision decision;
  const std::string_view target(request.target().data(), request.target().size());
  SseRequestPolicy policy;
  policy.max_topics = config_.max_topics;
  policy.verifier = verifier_;
  policy.token_sources = token_sources_;
  const SseRequestInput input{target, HeaderValue(request, "Last-Event-ID"),
                              HeaderValue(request, "Authorization"),
                              HeaderValue(request, "Cookie")};
  absl::StatusOr<SseRequest> parsed = ParseSseRequest(input, policy, absl::Now());
  if (!parsed.ok()) {
    const absl::Status& s = parsed.status();
    const std::string reason(s.message());
    // The target may carry a token (?access_token= or a misspelling of it):
    // only ever log it redacted.
    TG_LOG(DEBUG) << "sse: refused " << RedactCredentials(target) << ": " << reason;
    decision.refusal = Refuse(request,
                              absl::IsUnauthenticated(s)    ? http::status::unauthorized
                              : absl::IsPermissionDenied(s) ? http::status::forbidden
                                                            : http::status::bad_request,
                              reason);
    if (std::string challenge = BearerChallenge(input, policy, s); !challenge.empty()) {
      decision.refusal->set(http::field::www_authenticate, challenge);
    }
    return decision;
  }
  if (presence_ != nullptr) {
    // Revoked patterns (revoked subjects already failed token verification).
    if (absl::Status s = presence_->Admit(parsed->subject, parsed->patterns); !s.ok()) {
      decision.refusal = Refuse(request,
                                absl::IsUnauthenticated(s) ? http::status::unauthorized
                                                           : http::status::forbidden,
                                std::string(s.message()));
      return decision;
    }
  }
  std::vector<store::TopicPattern> patterns = std::move(parsed->patterns);
  std::optional<ResumeSpec> spec = parsed->resume;
  TG_LOG(DEBUG) << "sse: stream " << RedactCredentials(target)
                << (parsed->subject.empty() ? "" : " for ") << parsed->subject;

  const bool chunked = request.version() >= 11;
  std::string head = StatusLine(200, "OK");
  absl::StrAppend(&head,
                  "Server: tailgate\r\n"
                  "Content-Type: text/event-stream\r\n"
                  "Cache-Control: no-cache, no-transform\r\n"
                  "X-Accel-Buffering: no\r\n",
                  chunked ? "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n"
                          : "Connection: close\r\n");
  for (auto& [name, value] : CorsHeaders(request)) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  head += "\r\n";

  // One of the two takeovers runs, once: HTTP/1.1 (the connection) or
  // HTTP/2 (one stream, no chunked framing).
  auto make = std::make_shared<std::function<void(std::optional<HttpStream>,
                                                  std::shared_ptr<ConnectionSlot>,
                                                  std::shared_ptr<StreamSink>)>>(
      [hub = hub_, config = &config_, active = active_, metrics = metrics_,
                       presence = presence_, subject = parsed->subject,
                       head = std::move(head),
                       chunked, filter = store::TopicFilter(std::move(patterns)),
                       spec = *spec, valid_until = parsed->valid_until,
                       live_marker = parsed->live_marker, meta = parsed->meta](
                          std::optional<HttpStream> stream, std::shared_ptr<ConnectionSlot> slot,
                          std::shared_ptr<StreamSink> sink) mutable {
    const bool chunked_framing = chunked && !sink;
    auto session = std::make_shared<SseSession>(std::move(stream), std::move(slot), std::move(sink),
                                                hub, *config, active, std::move(head),
                                                chunked_framing,
                                                std::move(filter), spec,
                                                SteadyDeadline(valid_until), live_marker, meta);
    session->set_metrics(metrics);
    session->set_presence(presence, std::move(subject));
    session->Start();
  });
  decision.takeover = [make](HttpStream stream, std::shared_ptr<ConnectionSlot> slot) {
    (*make)(std::move(stream), std::move(slot), nullptr);
  };
  decision.sink_takeover = [make](std::shared_ptr<StreamSink> sink) {
    (*make)(std::nullopt, nullptr, std::move(sink));
  };
  return decision;
}

}  // namespace tailgate

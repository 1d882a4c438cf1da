#include "gateway/sse_service.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/logging.h"
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

// One SSE stream. Lives on its connection's strand.
class SseSession : public std::enable_shared_from_this<SseSession> {
 public:
  SseSession(tcp::socket socket, std::shared_ptr<ConnectionSlot> slot, Hub* hub,
             const SseConfig& config, std::shared_ptr<std::atomic<int>> active,
             std::string response_head, bool chunked, store::TopicFilter filter, ResumeSpec spec)
      : socket_(std::move(socket)),
        slot_(std::move(slot)),
        hub_(hub),
        config_(config),
        active_(std::move(active)),
        response_head_(std::move(response_head)),
        chunked_(chunked),
        filter_(std::move(filter)),
        spec_(spec),
        timer_(socket_.get_executor()) {
    active_->fetch_add(1);
  }

  ~SseSession() { active_->fetch_sub(1); }

  void Start() {
    slot_->OnDrain([weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        net::post(self->socket_.get_executor(), [self] { self->OnDrain(); });
      }
    });
    ReadPeer();
    // Where to start may need a store lookup (since=...): it completes on a
    // store thread or inline, and continues on the strand.
    hub_->ResolveStart(spec_, filter_, [self = shared_from_this()](absl::StatusOr<Hub::Start> s) {
      net::post(self->socket_.get_executor(),
                [self, s = std::move(s)]() mutable { self->OnResolved(std::move(s)); });
    });
  }

 private:
  void OnResolved(absl::StatusOr<Hub::Start> start) {
    if (closed_) return;
    if (!start.ok()) {
      TG_LOG(WARNING) << "sse: cannot resolve resume point: " << start.status().ToString();
      // Nothing was sent yet: a plain error response.
      const bool shutting_down = start.status().code() == absl::StatusCode::kUnavailable;
      std::string body = absl::StrCat(shutting_down ? "server is draining" : "storage error: ",
                                      shutting_down ? "" : start.status().message(), "\n");
      std::string head = absl::StrCat(
          shutting_down ? StatusLine(503, "Service Unavailable")
                        : StatusLine(500, "Internal Server Error"),
          "Server: tailgate\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n",
          shutting_down ? "Retry-After: 5\r\n" : "", "Content-Length: ", body.size(), "\r\n\r\n",
          body);
      response_head_ = std::move(head);
      chunked_ = false;
      ending_ = true;
      final_written_ = true;
      return StartWrite(std::string(), {});
    }
    started_ = true;
    cursor_ = std::make_shared<Cursor>(hub_, socket_.get_executor(), filter_, *std::move(start));
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

  void RequestNext() {
    if (next_pending_ || closed_ || ending_ || !cursor_) return;
    next_pending_ = true;
    cursor_->Next([self = shared_from_this()](Cursor::Batch batch) {
      self->OnBatch(std::move(batch));
    });
  }

  void OnBatch(Cursor::Batch batch) {
    next_pending_ = false;
    if (closed_) return;
    if (!batch.status.ok()) {
      // Hub stopped or the store failed: end cleanly; the client resumes
      // from its last id elsewhere or later.
      return End();
    }
    if (writing_) {
      queued_ = std::move(batch);
      return;
    }
    WriteBatch(std::move(batch));
  }

  void WriteBatch(Cursor::Batch batch) {
    std::string text;
    if (batch.reset) text = EncodeResetFrame(*batch.reset);
    StartWrite(std::move(text), std::move(batch.events));
  }

  // One gathered write: [HTTP head][chunk size][text][shared frames...][CRLF][last chunk].
  void StartWrite(std::string text, std::vector<EncodedEventPtr> frames) {
    size_t body = text.size();
    for (const EncodedEventPtr& f : frames) body += f->frame_bytes;
    prefix_ = std::move(response_head_);
    response_head_.clear();
    suffix_.clear();
    if (chunked_ && body > 0) {
      absl::StrAppend(&prefix_, absl::Hex(body), "\r\n");
      suffix_ = "\r\n";
    }
    prefix_ += text;
    if (chunked_ && final_written_) suffix_ += "0\r\n\r\n";
    in_flight_ = std::move(frames);
    buffers_.clear();
    buffers_.reserve(3 * in_flight_.size() + 2);
    if (!prefix_.empty()) buffers_.push_back(net::buffer(prefix_));
    for (const EncodedEventPtr& f : in_flight_) {
      f->AppendFrame(&buffers_, [](const char* p, size_t n) { return net::buffer(p, n); });
    }
    if (!suffix_.empty()) buffers_.push_back(net::buffer(suffix_));
    writing_ = true;
    write_started_ = Clock::now();
    if (started_) {
      ArmTimerBy(write_started_ + absl::ToChronoNanoseconds(config_.write_timeout));
    }
    net::async_write(socket_, buffers_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->OnWrite(ec);
                     });
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    in_flight_.clear();
    last_activity_ = Clock::now();
    if (closed_) return;
    if (ec) {
      TG_LOG(DEBUG) << "sse write: " << ec.message();
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
    if (!chunked_ || !started_ || final_written_) return Close();
    final_written_ = true;
    StartWrite(std::string(), {});
  }

  void OnDrain() {
    if (closed_) return;
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
    if (writing_) {
      if (now - write_started_ >= absl::ToChronoNanoseconds(config_.write_timeout)) {
        TG_LOG(DEBUG) << "sse: write timed out after " << config_.write_timeout
                      << "; dropping the peer";
        return Close();
      }
    } else if (!ending_ && now - last_activity_ >= absl::ToChronoNanoseconds(config_.heartbeat)) {
      StartWrite(std::string(": hb\n\n"), {});
    }
    ArmTimer();
  }

  // The client sends nothing after its request; a read completing means it
  // closed (or reset) the connection: stop at once instead of at the next write.
  void ReadPeer() {
    socket_.async_read_some(net::buffer(read_buf_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (self->closed_) return;
                              if (ec) return self->Close();
                              self->ReadPeer();
                            });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (cursor_) cursor_->Close();
    queued_.reset();
    beast::error_code ec;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  tcp::socket socket_;
  std::shared_ptr<ConnectionSlot> slot_;
  Hub* const hub_;
  const SseConfig& config_;
  std::shared_ptr<std::atomic<int>> active_;
  std::string response_head_;  // Sent with the first write.
  bool chunked_;
  store::TopicFilter filter_;
  ResumeSpec spec_;
  std::shared_ptr<Cursor> cursor_;
  net::steady_timer timer_;
  bool timer_armed_ = false;

  bool started_ = false;
  bool writing_ = false;
  bool next_pending_ = false;
  bool draining_ = false;
  bool ending_ = false;
  bool final_written_ = false;  // The last chunk is (being) written.
  bool closed_ = false;
  std::optional<Cursor::Batch> queued_;
  std::string prefix_;
  std::string suffix_;
  std::vector<EncodedEventPtr> in_flight_;
  std::vector<net::const_buffer> buffers_;
  Clock::time_point write_started_;
  Clock::time_point last_activity_ = Clock::now();
  std::array<char, 256> read_buf_;
};

}  // namespace

SseService::SseService(Hub* hub, const SseConfig& config)
    : hub_(hub), config_(config), active_(std::make_shared<std::atomic<int>>(0)) {
  any_origin_ =
      std::find(config_.cors_origins.begin(), config_.cors_origins.end(), "*") !=
      config_.cors_origins.end();
}

void SseService::Register(HttpRouter* router) {
  router->Handle(std::string(kEventsPath),
                 [this](const HttpRequest& request) { return HandleNonGet(request); });
  router->HandleStream(std::string(kEventsPath),
                       [this](const HttpRequest& request) { return HandleGet(request); });
}

std::optional<std::string> SseService::AllowedOrigin(const HttpRequest& request) const {
  if (config_.cors_origins.empty()) return std::nullopt;
  const std::string_view origin = HeaderValue(request, "Origin");
  if (origin.empty()) return std::nullopt;
  if (any_origin_) {
    // "*" is not allowed together with credentials: echo the origin then.
    return config_.cors_credentials ? std::string(origin) : std::string("*");
  }
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
  if (!any_origin_ || config_.cors_credentials) out.emplace_back("Vary", "Origin");
  if (std::optional<std::string> origin = AllowedOrigin(request)) {
    out.emplace_back("Access-Control-Allow-Origin", *origin);
    if (config_.cors_credentials) out.emplace_back("Access-Control-Allow-Credentials", "true");
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
    res.set(http::field::access_control_allow_headers, "Last-Event-ID, Cache-Control, Accept");
    res.set(http::field::access_control_max_age, "600");
  }
  res.keep_alive(request.keep_alive());
  res.prepare_payload();
  return res;
}

StreamDecision SseService::HandleGet(const HttpRequest& request) const {
  StreamDecision decision;
  const std::string_view target(request.target().data(), request.target().size());
  const size_t q = target.find('?');
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  std::vector<std::string> topics;
  std::optional<std::string> last_event_id_param;
  std::optional<std::string> since_param;
  for (auto& [name, value] : ParseQuery(query)) {
    if (name == "topic") {
      topics.push_back(std::move(value));
    } else if (name == "lastEventId") {
      if (!last_event_id_param) last_event_id_param = std::move(value);
    } else if (name == "since") {
      if (!since_param) since_param = std::move(value);
    }
    // Other parameters (e.g. cache busters) are ignored.
  }
  auto refuse = [&](std::string reason) {
    decision.refusal = Refuse(request, http::status::bad_request, std::move(reason));
    return std::move(decision);
  };
  if (topics.empty()) {
    return refuse("topic: at least one topic=PATTERN parameter is required");
  }
  if (topics.size() > config_.max_topics) {
    return refuse(absl::StrCat("topic: at most ", config_.max_topics,
                               " patterns per subscription, got ", topics.size()));
  }
  std::vector<store::TopicPattern> patterns;
  for (size_t i = 0; i < topics.size(); ++i) {
    const std::string field =
        Echoable(topics[i]) ? absl::StrCat("topic=", topics[i])
                            : absl::StrCat("topic #", i + 1);
    absl::StatusOr<store::TopicPattern> p = store::TopicPattern::Parse(topics[i], field);
    if (!p.ok()) return refuse(std::string(p.status().message()));
    patterns.push_back(*std::move(p));
  }

  // Every resume parameter given must be well-formed; the first present wins.
  std::optional<ResumeSpec> spec;
  const std::string_view header_id = HeaderValue(request, "Last-Event-ID");
  if (!header_id.empty()) {
    absl::StatusOr<uint64_t> id = ParseEventId(header_id, "Last-Event-ID header");
    if (!id.ok()) return refuse(std::string(id.status().message()));
    spec = ResumeSpec{ResumeSpec::Kind::kAfterId, *id, {}};
  }
  if (last_event_id_param) {
    absl::StatusOr<uint64_t> id = ParseEventId(*last_event_id_param, "lastEventId");
    if (!id.ok()) return refuse(std::string(id.status().message()));
    if (!spec) spec = ResumeSpec{ResumeSpec::Kind::kAfterId, *id, {}};
  }
  if (since_param) {
    absl::StatusOr<ResumeSpec> since = ParseSince(*since_param, "since");
    if (!since.ok()) return refuse(std::string(since.status().message()));
    if (!spec) spec = *since;
  }
  if (!spec) spec = ResumeSpec{};  // Live only.

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

  decision.takeover = [hub = hub_, config = &config_, active = active_, head = std::move(head),
                       chunked, filter = store::TopicFilter(std::move(patterns)),
                       spec = *spec](tcp::socket socket,
                                     std::shared_ptr<ConnectionSlot> slot) mutable {
    std::make_shared<SseSession>(std::move(socket), std::move(slot), hub, *config, active,
                                 std::move(head), chunked, std::move(filter), spec)
        ->Start();
  };
  return decision;
}

}  // namespace tailgate

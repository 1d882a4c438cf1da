#include "gateway/sse/service.h"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/auth/redact.h"
#include "gateway/diag/logging.h"
#include "gateway/sse/codec.h"
#include "gateway/sse/frame.h"
#include "gateway/sse/request.h"
#include "gateway/sse/session.h"
#include "store/absl_view.h"
#include "store/topic.h"

namespace tailgate {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {


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
  return absl::StrCat("HTTP/1.1 ", code, " ", AbslView(reason), "\r\n");
}

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
                                   ? AbslView(HeaderValue(request, "Origin"))
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
  SubscriptionOptions options;
  options.resume = *spec;
  options.live_marker = parsed->live_marker;
  options.valid_until = parsed->valid_until;
  options.heartbeat = config_.heartbeat;
  options.write_timeout = config_.write_timeout;
  options.presence = presence_;
  options.stream.subject = parsed->subject;
  options.stream.protocol = "sse";
  options.stream.opened_at = absl::Now();
  // One of the two takeovers runs, once: HTTP/1.1 (the connection) or
  // HTTP/2 (one stream, no chunked framing).
  auto make = std::make_shared<std::function<void(std::optional<HttpStream>,
                                                  std::shared_ptr<ConnectionSlot>,
                                                  std::shared_ptr<StreamSink>)>>(
      [hub = hub_, config = &config_, active = active_, metrics = metrics_,
       head = std::move(head), chunked, filter = store::TopicFilter(std::move(patterns)),
       options = std::move(options), meta = parsed->meta](
          std::optional<HttpStream> stream, std::shared_ptr<ConnectionSlot> slot,
          std::shared_ptr<StreamSink> sink) mutable {
        SseStream s{hub, config, active, metrics, std::move(head), chunked && !sink,
                    std::move(filter), std::move(options), meta};
        StartSseSession(std::move(stream), std::move(slot), std::move(sink), std::move(s));
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

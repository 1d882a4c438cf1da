// The SSE endpoint: GET /v1/events?topic=PATTERN[&topic=...] streams the
// matching events of the log (see README "Server-Sent Events").
//
// Each stream is an SseSession on its connection's strand: the SSE sink of
// a Subscription (gateway/core/subscription.h, which runs the start, the
// cursor, heartbeats, the write timeout, token expiry, revocation and drain)
// writing one gathered write at a time (shared frames, chunked encoding over
// HTTP/1.1, DATA frames over HTTP/2). A slow client costs that one write,
// nothing more: its cursor simply falls behind and reads further back.
//
// Thread-safety: Register before the server starts; handlers run on the
// HTTP server's strands. The hub must outlive every session.
#ifndef TAILGATE_GATEWAY_SSE_SERVICE_H_
#define TAILGATE_GATEWAY_SSE_SERVICE_H_

#include <atomic>
#include <optional>
#include <string>

#include "gateway/auth/token_extraction.h"
#include "gateway/auth/verifier.h"
#include "gateway/config.h"
#include "gateway/http/http_server.h"
#include "gateway/core/hub.h"
#include "gateway/diag/ops_metrics.h"
#include "gateway/core/presence.h"

namespace tailgate {

inline constexpr std::string_view kEventsPath = "/v1/events";
// GET /v1/position?topic=PATTERN[&topic=...] -> {"id": N}: where a
// subscription of those patterns opened now would start live (the hub's
// watermark). Same auth and CORS rules as /v1/events (sse_position.cc).
inline constexpr std::string_view kPositionPath = "/v1/position";
// Reserved event type (publishers cannot use `tailgate.` types): the last
// frame of a stream whose token reached its exp (plus leeway). It has no id;
// the server closes the stream right after it.
inline constexpr std::string_view kTokenExpiredEventType = "tailgate.token_expired";

class SseService {
 public:
  // `verifier` non-null: every request needs a token granting its patterns
  // (401 / 403 otherwise), found as `token_sources` says. It must outlive the
  // service.
  SseService(Hub* hub, const SseConfig& config, const JwtVerifier* verifier = nullptr,
             TokenSources token_sources = {});

  // Adds GET/OPTIONS /v1/events and /v1/position to the router.
  void Register(HttpRouter* router);

  // Streams open right now.
  int active_streams() const { return active_->load(); }

  // Stream metrics (tailgate_sse_*). Call before the server starts;
  // `metrics` must outlive every session. Optional.
  void set_metrics(SseMetrics* metrics) { metrics_ = metrics; }

  // Streams register there (ListStreams, Revoke) and revoked subjects or
  // patterns are refused (401 / 403). Call before the server starts;
  // `registry` must outlive every session. Optional.
  void set_presence(StreamRegistry* registry) { presence_ = registry; }

 private:
  HttpResponse HandleNonGet(const HttpRequest& request) const;
  StreamDecision HandleGet(const HttpRequest& request) const;
  // The answer to a GET while the server is full or draining: a 200 stream
  // with only a `retry:` of config.busy_retry (jittered), then the end.
  HttpResponse Busy(const HttpRequest& request, bool draining) const;
  HttpResponse HandlePosition(const HttpRequest& request) const;
  HttpResponse Refuse(const HttpRequest& request, boost::beast::http::status status,
                      std::string reason) const;
  // The Access-Control-* and Vary headers for this request's Origin, as
  // (name, value) pairs; empty when CORS is off.
  std::vector<std::pair<std::string, std::string>> CorsHeaders(const HttpRequest& request) const;
  std::optional<std::string> AllowedOrigin(const HttpRequest& request) const;

  Hub* const hub_;
  const SseConfig config_;
  const JwtVerifier* const verifier_;
  const TokenSources token_sources_;
  bool any_origin_ = false;
  std::shared_ptr<std::atomic<int>> active_;
  SseMetrics* metrics_ = nullptr;
  StreamRegistry* presence_ = nullptr;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SSE_SERVICE_H_

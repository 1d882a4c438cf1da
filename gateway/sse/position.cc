// GET /v1/position: the position a page reads while it renders, so that it
// can subscribe with lastEventId=<id> and miss nothing published between
// rendering and subscribing (README "Browser guide").
#include <string>

#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/auth/redact.h"
#include "gateway/diag/logging.h"
#include "gateway/sse/request.h"
#include "gateway/sse/service.h"

namespace tailgate {

namespace http = boost::beast::http;

namespace {

std::string_view Header(const HttpRequest& request, http::field name) {
  auto it = request.find(name);
  if (it == request.end()) return {};
  return std::string_view(it->value().data(), it->value().size());
}

}  // namespace

HttpResponse SseService::HandlePosition(const HttpRequest& request) const {
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    return HandleNonGet(request);  // CORS preflight, or 405.
  }
  const std::string_view target(request.target().data(), request.target().size());
  SseRequestPolicy policy;
  policy.max_topics = config_.max_topics;
  policy.verifier = verifier_;
  policy.token_sources = token_sources_;
  // The same checks as a subscription of these patterns: topics, token and
  // grants (resume parameters, if any, must be well-formed too).
  const SseRequestInput input{target, {}, Header(request, http::field::authorization),
                              Header(request, http::field::cookie)};
  absl::StatusOr<SseRequest> parsed = ParseSseRequest(input, policy, absl::Now());
  if (!parsed.ok()) {
    const absl::Status& s = parsed.status();
    TG_LOG(DEBUG) << "position: refused " << RedactCredentials(target) << ": " << s.message();
    HttpResponse res = Refuse(request,
                              absl::IsUnauthenticated(s)    ? http::status::unauthorized
                              : absl::IsPermissionDenied(s) ? http::status::forbidden
                                                            : http::status::bad_request,
                              std::string(s.message()));
    if (std::string challenge = BearerChallenge(input, policy, s); !challenge.empty()) {
      res.set(http::field::www_authenticate, challenge);
    }
    return res;
  }
  // The watermark: every id at or below it is committed, so a subscription
  // resuming after it misses nothing and repeats nothing of what a render
  // made now can have seen. (A per-pattern "last matching id" would need a
  // store read and say no more: ids in between do not match.)
  HttpResponse res = TextResponse(request, http::status::ok,
                                  absl::StrCat("{\"id\":", hub_->watermark(), "}\n"));
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  for (auto& [name, value] : CorsHeaders(request)) res.set(name, value);
  return res;
}

}  // namespace tailgate

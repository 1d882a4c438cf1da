// POST /v1/publish: publishing over plain HTTP with a JSON body, for curl,
// webhooks and any language's HTTP client (README "Publishing over HTTP",
// docs/publishing.md).
//
//   {"topic":"orders.42","type":"created","data":"{...}","idempotency_key":"k1"}
//     -> 200 {"id":17,"duplicate":false}
//   {"events":[{...},{...}]}  (atomic batch, like PublishBatch)
//     -> 200 {"results":[{"id":18,"duplicate":false},{"id":19,"duplicate":false}]}
//
// Same rules as tailgate.v1.Publisher, from the same admission
// (gateway/publish/admission.h, the PublisherService's): draining, memory
// budget (charged with the body's bytes), JWT authentication, limits, field
// validation and its messages, grants; and the same durability (the response
// is sent from the log's commit callback). This file only adds what is
// HTTP's: method, CORS origin, Content-Type and the JSON body. Errors are
// {"error":{"code":"INVALID_ARGUMENT","message":"events[3].topic: ..."}} with
// 400 / 401 / 403 / 409 / 413 / 415 / 429 / 500 / 503 (see StatusToHttp).
//
// `data` must be a JSON string: the event's data is text, and a JSON object
// would have no single byte-exact form (key order, spacing) to store.
//
// Threading: Handle runs on the connection's strand and never blocks; the
// response is sent from the log's committer thread through HttpRespond.
// Thread-safe once registered.
#ifndef TAILGATE_GATEWAY_PUBLISH_HTTP_PUBLISH_H_
#define TAILGATE_GATEWAY_PUBLISH_HTTP_PUBLISH_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/auth/token_extraction.h"
#include "gateway/auth/verifier.h"
#include "gateway/config.h"
#include "gateway/http/http_server.h"
#include "gateway/diag/ops_metrics.h"
#include "gateway/grpc/publisher_service.h"
#include "gateway/publish/admission.h"
#include "store/log.h"

namespace tailgate {

// The HTTP status for a publish error's code: INVALID_ARGUMENT 400,
// UNAUTHENTICATED 401, PERMISSION_DENIED 403, ALREADY_EXISTS 409,
// RESOURCE_EXHAUSTED 413 (the budget's 429 is decided by the caller),
// UNAVAILABLE 503, DEADLINE_EXCEEDED 504, anything else 500.
unsigned StatusToHttp(absl::StatusCode code);

// {"error":{"code":"<NAME>","message":"..."}} (with a trailing newline).
std::string ErrorJson(const absl::Status& status);

class HttpPublishService {
 public:
  // `log`, `publisher` (for its admission: budget, draining) and `verifier`
  // must outlive the service and every response it has pending (the
  // HttpServer waits for those in Stop). `verifier` is required when
  // config.http_mode is kOn and ignored otherwise. `all`/`http` metrics are
  // optional (tailgate_publish_total and tailgate_http_publish_total).
  HttpPublishService(store::Log* log, const PublishConfig& config, PublisherService* publisher,
                     const JwtVerifier* verifier, PublishMetrics* all, PublishMetrics* http,
                     absl::Duration retry_after);

  HttpPublishService(const HttpPublishService&) = delete;
  HttpPublishService& operator=(const HttpPublishService&) = delete;

  // Adds POST/OPTIONS /v1/publish unless the mode is off.
  void Register(HttpRouter* router);

 private:
  void Handle(HttpRequest request, HttpRespond respond);
  HttpResponse Preflight(const HttpRequest& request) const;
  HttpResponse TooLarge(const HttpRequest& head) const;
  // Access-Control-Allow-Origin for this request's Origin, or nullopt.
  std::optional<std::string> AllowedOrigin(const HttpRequest& request) const;
  void Count(absl::StatusCode code, uint64_t events) const;
  // The largest body read: max_request_bytes, but always room for one event
  // of max_data_bytes with JSON escaping.
  size_t MaxBodyBytes() const;

  store::Log* const log_;
  const PublishConfig config_;
  PublishAdmission* const admission_;
  const JwtVerifier* const verifier_;  // Non-null: a token is required.
  PublishMetrics* const all_metrics_;
  PublishMetrics* const http_metrics_;
  const absl::Duration retry_after_;
  bool any_origin_ = false;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_PUBLISH_HTTP_PUBLISH_H_

#include "gateway/publish/http_publish.h"

#include <jansson.h>

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/diag/json_text.h"
#include "gateway/diag/logging.h"
#include "gateway/publish/append_failure.h"
#include "store/absl_view.h"
#include "store/event_validation.h"
#include "gateway/auth/token_extraction.h"

namespace tailgate {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr char kPath[] = "/v1/publish";

struct JsonDecref {
  void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0).

std::string_view Header(const HttpRequest& request, http::field field) {
  auto it = request.find(field);
  if (it == request.end()) return {};
  return std::string_view(it->value().data(), it->value().size());
}

const char* CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return "OK";
    case absl::StatusCode::kCancelled: return "CANCELLED";
    case absl::StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kNotFound: return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case absl::StatusCode::kUnavailable: return "UNAVAILABLE";
    case absl::StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    case absl::StatusCode::kDataLoss: return "DATA_LOSS";
    case absl::StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case absl::StatusCode::kInternal: return "INTERNAL";
    default: return "UNKNOWN";
  }
}

// The bytes of a JSON string value.
std::string_view StringOf(const json_t* s) {
  return std::string_view(json_string_value(s), json_string_length(s));
}

// One event object of the body. `where` is "" for a lone event, else
// "events[3]." (the prefix of its fields' names). Missing string fields are
// empty, as in the protobuf request, so their validation names them.
absl::Status ReadEvent(json_t* object, const std::string& where, store::EventInput* out) {
  const char* key;
  json_t* value;
  json_object_foreach(object, key, value) {
    std::string* field = nullptr;
    const std::string_view name(key);
    if (name == "topic") {
      field = &out->topic;
    } else if (name == "type") {
      field = &out->type;
    } else if (name == "data") {
      field = &out->data;
    } else if (name == "idempotency_key") {
      field = &out->idempotency_key;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where, AbslView(name), ": unknown field (an event has topic, type, data, idempotency_key)"));
    }
    if (!json_is_string(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, AbslView(name), ": must be a JSON string",
                       name == "data" ? " (serialize structured data, e.g. JSON.stringify)" : ""));
    }
    *field = std::string(StringOf(value));
  }
  return absl::OkStatus();
}

struct ParsedBody {
  std::vector<store::EventInput> events;
  bool batch = false;  // {"events":[...]}
};

// The events of a request body, or the error naming the problem.
absl::StatusOr<ParsedBody> ParseBody(std::string_view body, const PublishAdmission& admission) {
  json_error_t error;
  // NUL is allowed through the parser so that ValidateData names the field.
  JsonPtr root(json_loadb(body.data(), body.size(), JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
                          &error));
  if (root == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("body is not valid JSON: ", error.text,
                                                   " (line ", error.line, ", column ",
                                                   error.column, ")"));
  }
  if (!json_is_object(root.get())) {
    return absl::InvalidArgumentError(
        "body must be a JSON object: one event {\"topic\":...} or a batch {\"events\":[...]}");
  }
  ParsedBody out;
  std::vector<store::EventInput>& events = out.events;
  json_t* list = json_object_get(root.get(), "events");
  if (list == nullptr) {
    events.emplace_back();
    if (absl::Status s = ReadEvent(root.get(), "", &events.back()); !s.ok()) return s;
    return out;
  }
  out.batch = true;
  if (json_object_size(root.get()) != 1) {
    const char* key;
    json_t* value;
    json_object_foreach(root.get(), key, value) {
      if (std::string_view(key) != "events") {
        return absl::InvalidArgumentError(
            absl::StrCat(key, ": unknown field (a batch has only \"events\")"));
      }
    }
  }
  if (!json_is_array(list)) return absl::InvalidArgumentError("events: must be a JSON array");
  const size_t n = json_array_size(list);
  if (absl::Status s = admission.CheckBatchSize(n); !s.ok()) return s;
  events.resize(n);
  for (size_t i = 0; i < n; ++i) {
    json_t* item = json_array_get(list, i);
    if (!json_is_object(item)) {
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "]: must be a JSON object"));
    }
    if (absl::Status s = ReadEvent(item, absl::StrCat("events[", i, "]."), &events[i]); !s.ok()) {
      return s;
    }
  }
  return out;
}

bool IsJsonContentType(std::string_view value) {
  const std::string_view media = value.substr(0, value.find(';'));
  const size_t end = media.find_last_not_of(" \t");
  return beast::iequals(media.substr(0, end == std::string_view::npos ? 0 : end + 1),
                        "application/json");
}

// What a response needs from its request, kept while the append runs.
struct ReplyContext {
  unsigned version = 11;
  bool keep_alive = true;
  std::optional<std::string> allow_origin;
  bool vary_origin = false;
};

HttpResponse JsonResponse(const ReplyContext& ctx, unsigned status, std::string body) {
  HttpResponse res{static_cast<http::status>(status), ctx.version};
  res.set(http::field::server, "tailgate");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  if (ctx.vary_origin) res.set(http::field::vary, "Origin");
  if (ctx.allow_origin) res.set(http::field::access_control_allow_origin, *ctx.allow_origin);
  res.keep_alive(ctx.keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string ResultJson(const store::AppendResult& r) {
  return absl::StrCat("{\"id\":", r.id, ",\"duplicate\":", r.duplicate ? "true" : "false", "}");
}

}  // namespace

unsigned StatusToHttp(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kResourceExhausted: return 413;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

std::string ErrorJson(const absl::Status& status) {
  std::string out = absl::StrCat("{\"error\":{\"code\":\"", CodeName(status.code()),
                                 "\",\"message\":");
  AppendJsonString(&out, std::string_view(status.message().data(), status.message().size()));
  out.append("}}\n");
  return out;
}

HttpPublishService::HttpPublishService(store::Log* log, const PublishConfig& config,
                                       PublisherService* publisher, const JwtVerifier* verifier,
                                       PublishMetrics* all, PublishMetrics* http,
                                       absl::Duration retry_after)
    : log_(log),
      config_(config),
      admission_(&publisher->admission()),
      verifier_(config.http_mode == PublishConfig::HttpMode::kOn ? verifier : nullptr),
      all_metrics_(all),
      http_metrics_(http),
      retry_after_(retry_after) {
  any_origin_ = std::find(config_.http_cors_origins.begin(), config_.http_cors_origins.end(),
                          "*") != config_.http_cors_origins.end();
}

size_t HttpPublishService::MaxBodyBytes() const {
  return std::max(config_.max_request_bytes, 2 * config_.max_data_bytes + 64 * 1024);
}

void HttpPublishService::Register(HttpRouter* router) {
  if (config_.http_mode == PublishConfig::HttpMode::kOff) return;
  AsyncRoute route;
  route.handler = [this](HttpRequest request, HttpRespond respond) {
    Handle(std::move(request), std::move(respond));
  };
  // A batch of max_batch_events events of max_data_bytes each fits in
  // max_request_bytes by configuration; JSON escaping can add to it, so one
  // event of the largest data always gets room for escaping it.
  route.max_body_bytes = MaxBodyBytes();
  route.too_large = [this](const HttpRequest& head) { return TooLarge(head); };
  router->HandleAsync(kPath, std::move(route));
}

std::optional<std::string> HttpPublishService::AllowedOrigin(const HttpRequest& request) const {
  const std::string_view origin = Header(request, http::field::origin);
  if (origin.empty() || config_.http_cors_origins.empty()) return std::nullopt;
  if (any_origin_) return std::string("*");
  for (const std::string& allowed : config_.http_cors_origins) {
    if (allowed == origin) return std::string(origin);
  }
  return std::nullopt;
}

void HttpPublishService::Count(absl::StatusCode code, uint64_t events) const {
  for (PublishMetrics* m : {all_metrics_, http_metrics_}) {
    if (m != nullptr) m->CountCode(static_cast<int>(code), events);
  }
}

HttpResponse HttpPublishService::TooLarge(const HttpRequest& head) const {
  ReplyContext ctx{head.version(), false, AllowedOrigin(head), !any_origin_};
  Count(absl::StatusCode::kResourceExhausted, 1);
  return JsonResponse(ctx, 413,
                      ErrorJson(absl::ResourceExhaustedError(absl::StrCat(
                          "body: larger than the limit of ", MaxBodyBytes(),
                          " bytes (--max_request_bytes)"))));
}

HttpResponse HttpPublishService::Preflight(const HttpRequest& request) const {
  ReplyContext ctx{request.version(), request.keep_alive(), AllowedOrigin(request),
                   !any_origin_};
  if (!ctx.allow_origin) {
    const std::string_view origin = Header(request, http::field::origin);
    return JsonResponse(
        ctx, 403,
        ErrorJson(absl::PermissionDeniedError(absl::StrCat(
            "origin ", origin.empty() ? std::string("(none)") : std::string(origin),
            " may not publish (see --publish_cors_origins)"))));
  }
  HttpResponse res = JsonResponse(ctx, 204, "");
  res.set(http::field::access_control_allow_methods, "POST, OPTIONS");
  res.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
  res.set(http::field::access_control_max_age, "600");
  res.set(http::field::allow, "POST, OPTIONS");
  res.erase(http::field::content_type);  // No body.
  return res;
}

void HttpPublishService::Handle(HttpRequest request, HttpRespond respond) {
  if (request.method() == http::verb::options) return respond(Preflight(request));
  ReplyContext ctx{request.version(), request.keep_alive(), AllowedOrigin(request),
                   !any_origin_};
  auto fail = [&](const absl::Status& s, unsigned status = 0, uint64_t events = 1) {
    if (absl::IsInvalidArgument(s) || absl::IsResourceExhausted(s)) {
      TG_LOG(DEBUG) << "POST " << kPath << " rejected: " << s.message();
    }
    HttpResponse res = JsonResponse(ctx, status != 0 ? status : StatusToHttp(s.code()),
                                    ErrorJson(s));
    if (absl::IsUnauthenticated(s)) {
      res.set(http::field::www_authenticate, Header(request, http::field::authorization).empty()
                                                 ? "Bearer"
                                                 : "Bearer error=\"invalid_token\"");
    }
    if (res.result_int() == 429 || res.result_int() == 503) {
      res.set(http::field::retry_after, std::to_string(absl::ToInt64Seconds(retry_after_)));
    }
    Count(s.code(), events);
    respond(std::move(res));
  };
  if (request.method() != http::verb::post) {
    HttpResponse res = JsonResponse(
        ctx, 405,
        ErrorJson(absl::InvalidArgumentError("method not allowed: use POST (OPTIONS for CORS)")));
    res.set(http::field::allow, "POST, OPTIONS");
    return respond(std::move(res));
  }
  // A browser page may publish only from an allowed origin: the check that
  // keeps another site from publishing with a visitor's network position
  // (open mode) does not depend on the browser honouring CORS.
  if (!Header(request, http::field::origin).empty() && !ctx.allow_origin) {
    return fail(absl::PermissionDeniedError(
        absl::StrCat("origin ", AbslView(Header(request, http::field::origin)),
                     " may not publish (see --publish_cors_origins)")));
  }
  // Everything but the transport's own checks (method, origin, content type,
  // JSON) is decided by the shared admission; a full budget is 429 here.
  absl::StatusOr<PublishCall> admitted = admission_->Open(PublishCallFacts{
      request.body().size(), /*deadline_passed=*/false, verifier_,
      [&request]() -> absl::StatusOr<std::optional<std::string>> {
        const std::string_view authorization = Header(request, http::field::authorization);
        if (authorization.empty()) return std::optional<std::string>();
        absl::StatusOr<std::string> token = ParseBearer(authorization);
        if (!token.ok()) return token.status();
        return std::optional<std::string>(*std::move(token));
      },
      "'Authorization: Bearer <token>'"});
  if (!admitted.ok()) {
    return fail(admitted.status(), absl::IsResourceExhausted(admitted.status()) ? 429 : 0);
  }
  // Checked after the token (as gRPC does): an unauthenticated caller learns
  // nothing about what the server accepts.
  if (!IsJsonContentType(Header(request, http::field::content_type))) {
    return fail(absl::InvalidArgumentError("Content-Type must be application/json"), 415);
  }
  absl::StatusOr<ParsedBody> parsed = ParseBody(request.body(), *admission_);
  if (!parsed.ok()) return fail(parsed.status());
  std::vector<store::EventInput>& events = parsed->events;
  const size_t n = events.size();
  // All or none, as PublishBatch: every event is checked before any is
  // handed to the log, which appends the batch atomically.
  for (size_t i = 0; i < n; ++i) {
    const store::EventInput& e = events[i];
    absl::Status s = admission_->CheckEvent(
        admitted->grants, store::EventFields{e.topic, e.type, e.data, e.idempotency_key},
        parsed->batch ? "events" : "", i);
    if (!s.ok()) return fail(s, 0, n);
  }
  // The response is sent from the append callback, which must be copyable.
  auto charge = std::make_shared<BudgetCharge>(std::move(admitted->charge));
  // The parsed events own their bytes; the body goes now, not after the commit.
  std::string().swap(request.body());
  log_->AppendAsync(
      std::move(events),
      [this, ctx = std::move(ctx), respond = std::move(respond), charge = std::move(charge),
       batch = parsed->batch, n](absl::StatusOr<std::vector<store::AppendResult>> results) {
        if (results.ok() && results->size() != n) {
          results = absl::InternalError("log returned an unexpected result count");
        }
        if (!results.ok()) {
          const absl::Status& s = results.status();
          LogAppendFailure("POST /v1/publish", s);
          Count(s.code(), n);
          HttpResponse res = JsonResponse(ctx, StatusToHttp(s.code()), ErrorJson(s));
          if (res.result_int() == 503) {
            res.set(http::field::retry_after, std::to_string(absl::ToInt64Seconds(retry_after_)));
          }
          return respond(std::move(res));
        }
        for (PublishMetrics* m : {all_metrics_, http_metrics_}) {
          if (m != nullptr) m->CountAppended(*results);
        }
        std::string body;
        if (batch) {
          body = "{\"results\":[";
          for (size_t i = 0; i < results->size(); ++i) {
            if (i > 0) body.push_back(',');
            body += ResultJson((*results)[i]);
          }
          body += "]}\n";
        } else {
          body = ResultJson((*results)[0]) + "\n";
        }
        respond(JsonResponse(ctx, 200, std::move(body)));
      });
}

}  // namespace tailgate

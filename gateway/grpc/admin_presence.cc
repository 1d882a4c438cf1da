// tailgate.v1.Admin: who is connected (ListStreams, CountSubscribers) and
// revocations (Revoke, ListRevocations, Unrevoke). Same authorization as the
// rest of Admin (CheckAdmin). Sync handlers on gRPC's pool: Revoke and
// Unrevoke write the revocations file here, never on an event loop.
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/grpc/admin_service.h"
#include "gateway/grpc/grpc_status.h"
#include "gateway/diag/logging.h"

namespace tailgate {
namespace {

grpc::Status NotConfigured() {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "this gateway does not track streams (no stream registry)");
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// The optional pattern filter of a request (empty: none).
grpc::Status ParseFilter(const std::string& text, std::optional<store::TopicPattern>* out) {
  if (text.empty()) return grpc::Status::OK;
  absl::StatusOr<store::TopicPattern> p = store::TopicPattern::Parse(text, "pattern");
  if (!p.ok()) return ToGrpcStatus(p.status());
  *out = *std::move(p);
  return grpc::Status::OK;
}

void ToProto(const Revocation& r, v1::RevocationInfo* out) {
  if (r.kind == Revocation::Kind::kSubject) {
    out->set_subject(r.value);
  } else {
    out->set_pattern(r.value);
  }
  out->set_until_unix_micros(absl::ToUnixMicros(r.until));
  out->set_created_unix_micros(absl::ToUnixMicros(r.created));
}

// Exactly one of subject / pattern.
grpc::Status Target(const std::string& subject, const std::string& pattern,
                    Revocation::Kind* kind, std::string* value) {
  if (subject.empty() == pattern.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "give exactly one of subject or pattern");
  }
  *kind = subject.empty() ? Revocation::Kind::kPattern : Revocation::Kind::kSubject;
  *value = subject.empty() ? pattern : subject;
  return grpc::Status::OK;
}

}  // namespace

grpc::Status AdminService::ListStreams(grpc::ServerContext* ctx, const v1::ListStreamsRequest* req,
                                       v1::ListStreamsResponse* res) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  if (registry_ == nullptr) return NotConfigured();
  std::optional<store::TopicPattern> covering;
  if (grpc::Status s = ParseFilter(req->pattern(), &covering); !s.ok()) return s;
  const absl::Time now = absl::Now();
  for (const StreamSnapshot& s :
       registry_->List(req->subject(), covering ? &*covering : nullptr)) {
    v1::StreamInfo* out = res->add_streams();
    out->set_id(s.id);
    out->set_subject(s.info.subject);
    for (const store::TopicPattern& p : s.patterns) out->add_patterns(p.str());
    out->set_protocol(std::string(s.info.protocol));
    out->set_remote(s.info.remote);
    out->set_position(s.position);
    out->set_opened_at_unix_micros(absl::ToUnixMicros(s.info.opened_at));
    out->set_age_seconds(absl::ToDoubleSeconds(now - s.info.opened_at));
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::CountSubscribers(grpc::ServerContext* ctx,
                                            const v1::CountSubscribersRequest* req,
                                            v1::CountSubscribersResponse* res) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  if (registry_ == nullptr) return NotConfigured();
  std::optional<store::TopicPattern> covering;
  if (grpc::Status s = ParseFilter(req->pattern(), &covering); !s.ok()) return s;
  const store::TopicPattern* filter = covering ? &*covering : nullptr;
  for (const auto& [pattern, n] : registry_->CountByPattern(filter)) {
    v1::PatternCount* out = res->add_patterns();
    out->set_pattern(pattern);
    out->set_subscribers(n);
  }
  // Distinct streams: the same filter as the counts above.
  res->set_streams(registry_->List("", filter).size());
  return grpc::Status::OK;
}

grpc::Status AdminService::Revoke(grpc::ServerContext* ctx, const v1::RevokeRequest* req,
                                  v1::RevokeResponse* res) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  if (registry_ == nullptr || revocations_ == nullptr) return NotConfigured();
  Revocation r;
  if (grpc::Status s = Target(req->subject(), req->pattern(), &r.kind, &r.value); !s.ok()) {
    return s;
  }
  if (req->until_unix_micros() <= 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "until_unix_micros: required (when the revocation ends)");
  }
  const absl::Time now = absl::Now();
  r.until = absl::FromUnixMicros(req->until_unix_micros());
  r.created = now;
  // Added (and persisted) before the scan: see StreamRegistry's race rule.
  if (absl::Status s = revocations_->Add(r, now); !s.ok()) return ToGrpcStatus(s);
  size_t ended = 0;
  if (r.kind == Revocation::Kind::kSubject) {
    ended = registry_->EndSubject(
        r.value, absl::UnauthenticatedError(absl::StrCat("token subject ", r.value,
                                                         " is revoked until ", Rfc3339(r.until))));
  } else {
    const store::TopicPattern pattern = *store::TopicPattern::Parse(r.value, "pattern");
    ended = registry_->EndCovered(
        pattern, absl::PermissionDeniedError(absl::StrCat("subscriptions covered by \"", r.value,
                                                          "\" are revoked until ",
                                                          Rfc3339(r.until))));
  }
  TG_LOG(INFO) << "admin: revoked " << RevocationKindName(r.kind) << " " << r.value << " until "
               << Rfc3339(r.until) << "; ended " << ended << " stream(s)";
  res->set_streams_ended(ended);
  ToProto(r, res->mutable_revocation());
  res->set_persisted(!revocations_->path().empty());
  return grpc::Status::OK;
}

grpc::Status AdminService::ListRevocations(grpc::ServerContext* ctx,
                                           const v1::ListRevocationsRequest*,
                                           v1::ListRevocationsResponse* res) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  if (revocations_ == nullptr) return NotConfigured();
  for (const Revocation& r : revocations_->List(absl::Now())) ToProto(r, res->add_revocations());
  return grpc::Status::OK;
}

grpc::Status AdminService::Unrevoke(grpc::ServerContext* ctx, const v1::UnrevokeRequest* req,
                                    v1::UnrevokeResponse*) {
  if (grpc::Status a = CheckAdmin(*ctx); !a.ok()) return a;
  if (revocations_ == nullptr) return NotConfigured();
  Revocation::Kind kind;
  std::string value;
  if (grpc::Status s = Target(req->subject(), req->pattern(), &kind, &value); !s.ok()) return s;
  if (absl::Status s = revocations_->Remove(kind, value, absl::Now()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  TG_LOG(INFO) << "admin: lifted the revocation of " << RevocationKindName(kind) << " " << value;
  return grpc::Status::OK;
}

}  // namespace tailgate

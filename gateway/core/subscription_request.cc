#include "gateway/core/subscription_request.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"

namespace tailgate {

namespace {


absl::Status Invalid(std::string_view message) { return absl::InvalidArgumentError(AbslView(message)); }

absl::StatusOr<ResumeSpec> ParseResumeField(const ResumeField& f) {
  switch (f.kind) {
    case ResumeField::Kind::kAfterId: {
      absl::StatusOr<uint64_t> id = ParseEventId(f.text, f.name);
      if (!id.ok()) return id.status();
      return ResumeSpec{ResumeSpec::Kind::kAfterId, *id, {}, 0};
    }
    case ResumeField::Kind::kSince:
      return ParseSince(f.text, f.name);
    case ResumeField::Kind::kLast: {
      absl::StatusOr<uint64_t> last = ParseLast(f.text, f.name);
      if (!last.ok()) return last.status();
      return ResumeSpec{ResumeSpec::Kind::kLast, 0, {}, *last};
    }
  }
  return Invalid("unknown resume field");
}

}  // namespace

absl::StatusOr<AcceptedSubscription> AcceptSubscription(const SubscriptionRequest& request) {
  AcceptedSubscription out;
  const Grants* grants = nullptr;
  if (request.authentication) {
    if (!request.authentication->ok()) return request.authentication->status();
    grants = &**request.authentication;
    out.subject = grants->subject;
  }

  if (request.topics.empty()) return Invalid(request.no_topics_message);
  if (request.topics.size() > request.max_topics) {
    return Invalid(absl::StrCat(AbslView(request.topics_field), ": at most ", request.max_topics,
                                " patterns per subscription, got ", request.topics.size()));
  }
  out.patterns.reserve(request.topics.size());
  for (size_t i = 0; i < request.topics.size(); ++i) {
    absl::StatusOr<store::TopicPattern> p = store::TopicPattern::Parse(
        request.topics[i], request.pattern_field(i, request.topics[i]));
    if (!p.ok()) return absl::InvalidArgumentError(p.status().message());
    out.patterns.push_back(*std::move(p));
  }

  std::optional<ResumeSpec> resume;
  for (const ResumeField& f : request.resume) {
    absl::StatusOr<ResumeSpec> spec = ParseResumeField(f);
    if (!spec.ok()) return absl::InvalidArgumentError(spec.status().message());
    if (!resume) resume = *spec;
  }
  out.resume = resume.value_or(ResumeSpec{});

  if (!request.transport_fields.ok()) return request.transport_fields;

  if (grants != nullptr) {
    if (absl::Status s = AuthorizeSubscribe(*grants, out.patterns); !s.ok()) return s;
    out.valid_until = grants->valid_until;
  }
  return out;
}

}  // namespace tailgate

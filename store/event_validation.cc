#include "store/event_validation.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "store/topic.h"

namespace tailgate::store {
namespace {

absl::Status ValidateNamed(const EventFields& e, size_t max_data_bytes, std::string_view topic,
                           std::string_view type, std::string_view key, std::string_view data) {
  if (absl::Status s = ValidateTopic(e.topic, topic); !s.ok()) return s;
  if (absl::Status s = ValidateType(e.type, type); !s.ok()) return s;
  if (absl::Status s = ValidateIdempotencyKey(e.idempotency_key, key); !s.ok()) return s;
  return ValidateData(e.data, max_data_bytes, data);
}

}  // namespace

absl::Status ValidateEvent(const EventFields& event, size_t max_data_bytes,
                           std::string_view list, uint64_t index) {
  absl::Status s =
      ValidateNamed(event, max_data_bytes, "topic", "type", "idempotency_key", "data");
  if (s.ok() || list.empty()) return s;
  // Only a failing event pays for building the prefixed field names.
  std::string p(list);
  absl::StrAppend(&p, "[", index, "].");
  return ValidateNamed(event, max_data_bytes, p + "topic", p + "type", p + "idempotency_key",
                       p + "data");
}

}  // namespace tailgate::store

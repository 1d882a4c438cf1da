#include "store/log.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "store/absl_view.h"
#include "store/event_validation.h"
#include "store/internal/log_common.h"

namespace tailgate::store {

absl::StatusOr<Durability> ParseDurability(std::string_view text) {
  if (text == "fsync") return Durability::kFsync;
  if (text == "wal") return Durability::kWal;
  if (text == "none") return Durability::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("durability: want fsync, wal or none, got \"", std::string(text), "\""));
}

std::string_view DurabilityName(Durability d) {
  switch (d) {
    case Durability::kFsync:
      return "fsync";
    case Durability::kWal:
      return "wal";
    case Durability::kNone:
      return "none";
  }
  return "unknown";
}

absl::StatusOr<std::vector<AppendResult>> Log::Append(std::vector<EventInput> events) {
  // The callback may run before AppendAsync returns (e.g. after Close), so
  // the result lives here and the notification orders the hand-over.
  absl::StatusOr<std::vector<AppendResult>> result;
  absl::Notification done;
  AppendAsync(std::move(events), [&](absl::StatusOr<std::vector<AppendResult>> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

namespace internal {
namespace {
// Debian's Abseil is built without the std::string_view alias.
}  // namespace

std::string EventField(size_t count, size_t index, std::string_view name) {
  if (count <= 1) return std::string(name);
  return absl::StrCat("events[", index, "].", AbslView(name));
}

absl::Status ValidateAppend(absl::Span<const EventInput> events, size_t max_data_bytes) {
  if (events.empty()) return absl::InvalidArgumentError("events: at least one event required");
  // Named like EventField: bare for a lone event, "events[i]." in a batch.
  const std::string_view list = events.size() > 1 ? "events" : "";
  for (size_t i = 0; i < events.size(); ++i) {
    const EventInput& e = events[i];
    absl::Status s = ValidateEvent(EventFields{e.topic, e.type, e.data, e.idempotency_key},
                                   max_data_bytes, list, i);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace tailgate::store

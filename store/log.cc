#include "store/log.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

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

}  // namespace tailgate::store

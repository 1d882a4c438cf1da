#include "gateway/publish/append_failure.h"

#include <cstdint>

#include "absl/time/time.h"
#include "gateway/diag/logging.h"

namespace tailgate {

void LogAppendFailure(std::string_view where, const absl::Status& status) {
  if (!absl::IsInternal(status) && !absl::IsDataLoss(status) && !absl::IsUnknown(status)) return;
  static LogThrottle throttle(absl::Seconds(10));
  if (uint64_t held = 0; throttle.Admit(&held)) {
    TG_LOG(ERROR) << where << ": append failed: " << status.ToString() << Held(held);
  }
}

}  // namespace tailgate

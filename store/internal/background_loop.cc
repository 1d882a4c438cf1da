#include "store/internal/background_loop.h"

#include <utility>

namespace tailgate::store::internal {

BackgroundLoop::BackgroundLoop(Step step, absl::Duration first_wait) : step_(std::move(step)) {
  thread_ = std::thread([this, first_wait] { Run(first_wait); });
}

void BackgroundLoop::Run(absl::Duration wait) {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), wait);
      if (stop_) return;
    }
    wait = step_();
  }
}

void BackgroundLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace tailgate::store::internal

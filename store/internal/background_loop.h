// The background thread of a log (retention, recovery): runs a step, sleeps
// for as long as the step asks, and stops promptly on Stop. Both log
// backends use it, so they wake, stop and join the same way.
//
// Thread-safety: Stop may be called from any thread but the loop's own (not
// from two at once); calls after the first return at once. The destructor
// calls it.
#ifndef TAILGATE_STORE_INTERNAL_BACKGROUND_LOOP_H_
#define TAILGATE_STORE_INTERNAL_BACKGROUND_LOOP_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tailgate::store::internal {

class BackgroundLoop {
 public:
  // Returns how long to sleep before the next step.
  using Step = std::function<absl::Duration()>;

  // Starts the thread; the first step runs after `first_wait`.
  BackgroundLoop(Step step, absl::Duration first_wait);
  ~BackgroundLoop() { Stop(); }
  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;

  // Wakes the sleeping thread, waits for a step in progress to end, and
  // joins. No step starts after it returns.
  void Stop();

 private:
  void Run(absl::Duration first_wait);

  const Step step_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_INTERNAL_BACKGROUND_LOOP_H_

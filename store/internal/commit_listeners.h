// The commit-listener registry every Log implementation shares: add, remove
// and notify, with the guarantee Log::RemoveCommitListener promises (once it
// returns, the listener is never called again).
//
// Thread-safety: all methods are thread-safe. Notify runs listeners in
// registration order, one Notify at a time.
#ifndef TAILGATE_STORE_INTERNAL_COMMIT_LISTENERS_H_
#define TAILGATE_STORE_INTERNAL_COMMIT_LISTENERS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/types/span.h"
#include "store/log.h"

namespace tailgate::store::internal {

class CommitListeners {
 public:
  uint64_t Add(Log::CommitListener listener) {
    std::lock_guard lock(mu_);
    const uint64_t handle = next_++;
    listeners_.emplace(handle, std::make_shared<Log::CommitListener>(std::move(listener)));
    return handle;
  }

  // `from_notifier`: the caller is the thread that runs Notify (a listener
  // removing itself), which must not wait for the Notify it is inside.
  void Remove(uint64_t handle, bool from_notifier) {
    {
      std::lock_guard lock(mu_);
      listeners_.erase(handle);
    }
    // A Notify that copied the listener before the erase may still be
    // running it: wait for that call to end.
    if (!from_notifier) std::lock_guard wait(call_mu_);
  }

  void Notify(absl::Span<const Event> events, uint64_t watermark) {
    std::lock_guard calling(call_mu_);
    std::vector<std::shared_ptr<Log::CommitListener>> listeners;
    {
      std::lock_guard lock(mu_);
      listeners.reserve(listeners_.size());
      for (const auto& [handle, l] : listeners_) listeners.push_back(l);
    }
    for (const auto& l : listeners) (*l)(events, watermark);
  }

 private:
  std::mutex mu_;       // Guards next_ and listeners_.
  std::mutex call_mu_;  // Held while listeners run.
  uint64_t next_ = 1;
  std::map<uint64_t, std::shared_ptr<Log::CommitListener>> listeners_;
};

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_INTERNAL_COMMIT_LISTENERS_H_

// One global budget for the bytes of publish requests that the gateway holds
// between receiving them and acknowledging them (--publish_memory_budget).
//
// Per-message and per-stream limits bound one caller; this bounds them all
// together. Unary calls that do not fit are refused (RESOURCE_EXHAUSTED); a
// PublishStream that does not fit waits with the one request it has read and
// reads no more, so HTTP/2 flow control holds its client back.
//
// A request always fits when nothing is charged, so one larger than the
// whole budget (up to --max_request_bytes) still goes through, alone.
// Waiters are served in arrival order; a new request never overtakes one.
//
// Once the budget is idle again after heavy use, the process returns freed
// heap memory to the system (ReleaseFreeHeapMemory), so RSS falls back after a burst.
//
// Thread-safety: thread-safe. Waiters resume on the budget's own thread,
// never on the thread calling Release (the log's committer). The destructor
// joins that thread, then resumes every remaining waiter on the calling
// thread so that it can finish and release what it holds.
#ifndef TAILGATE_GATEWAY_PUBLISH_BUDGET_H_
#define TAILGATE_GATEWAY_PUBLISH_BUDGET_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace tailgate {

class PublishBudget {
 public:
  explicit PublishBudget(size_t limit_bytes);
  ~PublishBudget();

  PublishBudget(const PublishBudget&) = delete;
  PublishBudget& operator=(const PublishBudget&) = delete;

  // Charges `bytes` if they fit now (and nobody is waiting).
  bool TryCharge(size_t bytes);
  // Charges `bytes` now and returns true, or queues `granted`, which runs
  // once the bytes are charged for it (on the budget's thread), and returns
  // false.
  bool ChargeOrWait(size_t bytes, std::function<void()> granted);
  // Returns charged bytes; may resume waiters.
  void Release(size_t bytes);

  size_t limit() const { return limit_; }
  size_t used() const;
  size_t waiting() const;

 private:
  bool FitsLocked(size_t bytes) const { return used_ == 0 || used_ + bytes <= limit_; }
  void Loop();

  const size_t limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t used_ = 0;
  size_t peak_since_trim_ = 0;  // Charged bytes seen since the last trim.
  std::deque<std::pair<size_t, std::function<void()>>> waiting_;
  std::deque<std::function<void()>> granted_;  // Charged; to run on thread_.
  bool trim_ = false;
  bool stop_ = false;
  std::thread thread_;
};

// Bytes charged to a PublishBudget, released when the charge is destroyed:
// a call holds one from admission until its response is built. Move-only;
// a default-constructed (or moved-from) charge holds nothing.
// Thread-safety: one owner at a time.
class BudgetCharge {
 public:
  BudgetCharge() = default;
  // Takes over `bytes` already charged to `budget` (may be null: nothing).
  BudgetCharge(PublishBudget* budget, size_t bytes) : budget_(budget), bytes_(bytes) {}
  ~BudgetCharge() { Reset(); }

  BudgetCharge(BudgetCharge&& other) noexcept
      : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  BudgetCharge& operator=(BudgetCharge&& other) noexcept {
    if (this != &other) {
      Reset();
      budget_ = std::exchange(other.budget_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }

 private:
  void Reset() {
    if (budget_ != nullptr) budget_->Release(bytes_);
    budget_ = nullptr;
    bytes_ = 0;
  }

  PublishBudget* budget_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_PUBLISH_BUDGET_H_

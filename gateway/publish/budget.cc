#include "gateway/publish/budget.h"

#include "gateway/heap/heap.h"

namespace tailgate {

namespace {
// Trimming walks the heap: only worth it after this much was held.
constexpr size_t kTrimAfterBytes = size_t{32} << 20;
}  // namespace

PublishBudget::PublishBudget(size_t limit_bytes)
    : limit_(limit_bytes), thread_([this] { Loop(); }) {}

PublishBudget::~PublishBudget() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  // Whoever still waits is resumed (charged) so that it can finish and
  // release itself; nothing can be waiting on it any more.
  std::deque<std::function<void()>> run;
  {
    std::lock_guard<std::mutex> lock(mu_);
    run.swap(granted_);
    for (auto& w : waiting_) {
      used_ += w.first;
      run.push_back(std::move(w.second));
    }
    waiting_.clear();
  }
  for (std::function<void()>& fn : run) fn();
}

bool PublishBudget::TryCharge(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!waiting_.empty() || !FitsLocked(bytes)) return false;
  used_ += bytes;
  if (used_ > peak_since_trim_) peak_since_trim_ = used_;
  return true;
}

bool PublishBudget::ChargeOrWait(size_t bytes, std::function<void()> granted) {
  std::lock_guard<std::mutex> lock(mu_);
  if (waiting_.empty() && FitsLocked(bytes)) {
    used_ += bytes;
    if (used_ > peak_since_trim_) peak_since_trim_ = used_;
    return true;
  }
  waiting_.emplace_back(bytes, std::move(granted));
  return false;
}

void PublishBudget::Release(size_t bytes) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    used_ -= bytes;
    while (!waiting_.empty() && FitsLocked(waiting_.front().first)) {
      used_ += waiting_.front().first;
      if (used_ > peak_since_trim_) peak_since_trim_ = used_;
      granted_.push_back(std::move(waiting_.front().second));
      waiting_.pop_front();
      wake = true;
    }
    if (used_ == 0 && peak_since_trim_ >= kTrimAfterBytes) {
      peak_since_trim_ = 0;
      trim_ = true;
      wake = true;
    }
  }
  if (wake) cv_.notify_one();
}

size_t PublishBudget::used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

size_t PublishBudget::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_.size();
}

void PublishBudget::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || trim_ || !granted_.empty(); });
    if (stop_) return;
    std::deque<std::function<void()>> run;
    run.swap(granted_);
    const bool trim = trim_;
    trim_ = false;
    lock.unlock();
    for (std::function<void()>& fn : run) fn();
    // The allocator keeps freed pages mapped for a while (glibc: for good);
    // after a burst of large requests that is the burst's size in RSS.
    if (trim) ReleaseFreeHeapMemory();
    lock.lock();
  }
}

}  // namespace tailgate

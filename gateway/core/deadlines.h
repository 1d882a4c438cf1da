// One timer for all the deadlines of an execution context (an io_context):
// every subscription has a deadline pending almost all of its life (the next
// heartbeat, a write's timeout, the token's expiry), and with an Asio timer
// each, an idle stream carried the timer and its pending wait (≈ 300 bytes).
// Here a deadline is a small record in its owner plus an entry in one heap;
// one Asio timer waits for the earliest.
//
// Thread-safety: Arm, Cancel and expiry may run on any thread of the
// context; one mutex guards the heap and the timer. Expiry calls the
// owner's hook on a thread of the context, with the lock released, holding
// a strong reference to the owner; the hook posts to the owner's strand.
// A deadline that fires may already have been re-armed or cancelled by then:
// the owner checks the time itself (expiry is a hint to look, never a
// command).
//
// Ownership: the service belongs to the context (asio::use_service); a
// Deadline belongs to its owner, which must Cancel it before it is destroyed
// (~Deadline does).
#ifndef TAILGATE_GATEWAY_CORE_DEADLINES_H_
#define TAILGATE_GATEWAY_CORE_DEADLINES_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace tailgate {

class Deadlines;

// One owner's deadline: at most one time pending.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  // Runs when the deadline passed, on a thread of the context, with `owner`
  // (the strong reference taken from the weak one given to Arm).
  using Hook = void (*)(std::shared_ptr<void> owner);

  // `executor`'s execution context holds the shared timer.
  Deadline(const boost::asio::any_io_executor& executor, Hook hook);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Sets the time (earlier or later than a pending one); `owner` is what the
  // hook gets, if it is still alive then.
  void Arm(Clock::time_point at, std::weak_ptr<void> owner);
  // Nothing pending afterwards; a hook already on its way may still run.
  void Cancel();

 private:
  friend class Deadlines;
  static constexpr size_t kIdle = static_cast<size_t>(-1);

  Deadlines& service_;
  const Hook hook_;
  // Guarded by the service's mutex.
  Clock::time_point at_{};
  size_t index_ = kIdle;  // In the service's heap.
  std::weak_ptr<void> owner_;
};

// The per-context service (found with asio::use_service<Deadlines>).
class Deadlines : public boost::asio::execution_context::service {
 public:
  using key_type = Deadlines;
  static boost::asio::execution_context::id id;

  explicit Deadlines(boost::asio::execution_context& context);
  ~Deadlines() override;

  // Pending deadlines (for tests).
  size_t pending() const;

 private:
  friend class Deadline;
  using Clock = Deadline::Clock;

  void shutdown() override;
  // The first owner's executor gives the timer its context's executor.
  void SetExecutor(const boost::asio::any_io_executor& executor);
  void Arm(Deadline* d, Clock::time_point at, std::weak_ptr<void> owner);
  void Cancel(Deadline* d);
  // With mu_ held: heap order by time, each entry's index kept in it.
  void SiftUp(size_t i);
  void SiftDown(size_t i);
  void Remove(size_t i);
  void Place(size_t i, Deadline* d);
  // With mu_ held: the timer waits for the heap's top.
  void Rearm();
  void OnTimer();

  mutable std::mutex mu_;
  std::vector<Deadline*> heap_;
  std::unique_ptr<boost::asio::steady_timer> timer_;  // Null until the first owner; after shutdown.
  bool shut_down_ = false;
  Clock::time_point timer_at_ = Clock::time_point::max();  // What the timer waits for.
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CORE_DEADLINES_H_

#include "gateway/core/deadlines.h"

#include <utility>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

namespace tailgate {

namespace net = boost::asio;

boost::asio::execution_context::id Deadlines::id;

namespace {

// The context's own executor for the shared timer, not the strand of the
// first stream that asked (the timer belongs to no stream): the gateway's
// streams run on strands of io_contexts (HTTP) and thread pools (gRPC). Any
// other executor is used as it is (still correct: the expiry then runs
// through it).
net::any_io_executor InnerExecutor(const net::any_io_executor& ex) {
  using IoStrand = net::strand<net::io_context::executor_type>;
  using PoolStrand = net::strand<net::thread_pool::executor_type>;
  if (const auto* s = ex.target<IoStrand>()) return s->get_inner_executor();
  if (const auto* s = ex.target<PoolStrand>()) return s->get_inner_executor();
  return ex;
}

}  // namespace

Deadline::Deadline(const net::any_io_executor& executor, Hook hook)
    : service_(net::use_service<Deadlines>(net::query(executor, net::execution::context))),
      hook_(hook) {
  service_.SetExecutor(executor);
}

Deadline::~Deadline() { Cancel(); }

void Deadline::Arm(Clock::time_point at, std::weak_ptr<void> owner) {
  service_.Arm(this, at, std::move(owner));
}

void Deadline::Cancel() { service_.Cancel(this); }

Deadlines::Deadlines(net::execution_context& context)
    : net::execution_context::service(context) {}

void Deadlines::SetExecutor(const net::any_io_executor& executor) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!timer_ && !shut_down_) timer_ = std::make_unique<net::steady_timer>(InnerExecutor(executor));
}

Deadlines::~Deadlines() = default;

size_t Deadlines::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heap_.size();
}

void Deadlines::shutdown() {
  // Before any service is destroyed (the timer's own among them).
  std::lock_guard<std::mutex> lock(mu_);
  shut_down_ = true;
  timer_.reset();
}

void Deadlines::Arm(Deadline* d, Clock::time_point at, std::weak_ptr<void> owner) {
  std::lock_guard<std::mutex> lock(mu_);
  d->owner_ = std::move(owner);
  const bool later = d->index_ != Deadline::kIdle && at > d->at_;
  d->at_ = at;
  if (d->index_ == Deadline::kIdle) {
    heap_.push_back(d);
    d->index_ = heap_.size() - 1;
    SiftUp(d->index_);
  } else if (later) {
    SiftDown(d->index_);
  } else {
    SiftUp(d->index_);
  }
  Rearm();
}

void Deadlines::Cancel(Deadline* d) {
  std::lock_guard<std::mutex> lock(mu_);
  if (d->index_ == Deadline::kIdle) return;
  Remove(d->index_);
  d->owner_.reset();
  Rearm();
}

void Deadlines::Place(size_t i, Deadline* d) {
  heap_[i] = d;
  d->index_ = i;
}

void Deadlines::SiftUp(size_t i) {
  Deadline* d = heap_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (heap_[parent]->at_ <= d->at_) break;
    Place(i, heap_[parent]);
    i = parent;
  }
  Place(i, d);
}

void Deadlines::SiftDown(size_t i) {
  Deadline* d = heap_[i];
  const size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->at_ < heap_[child]->at_) ++child;
    if (d->at_ <= heap_[child]->at_) break;
    Place(i, heap_[child]);
    i = child;
  }
  Place(i, d);
}

void Deadlines::Remove(size_t i) {
  Deadline* gone = heap_[i];
  Deadline* last = heap_.back();
  heap_.pop_back();
  gone->index_ = Deadline::kIdle;
  if (gone == last) return;
  Place(i, last);
  SiftDown(i);
  SiftUp(last->index_);
}

// The timer waits for the earliest deadline. A timer set for later than the
// top is moved earlier; one set for earlier than the top is left (it fires,
// finds nothing due and waits again), so a deadline moved later (the common
// case: a heartbeat pushed back by a write) costs no timer operation.
void Deadlines::Rearm() {
  if (!timer_) return;
  if (heap_.empty()) {
    if (timer_at_ != Clock::time_point::max()) {
      timer_at_ = Clock::time_point::max();
      timer_->cancel();  // No pending wait keeps the context busy.
    }
    return;
  }
  const Clock::time_point top = heap_.front()->at_;
  if (timer_at_ <= top) return;
  timer_at_ = top;
  timer_->expires_at(top);
  timer_->async_wait([this](boost::system::error_code ec) {
    if (ec == net::error::operation_aborted) return;  // Moved, or shut down.
    OnTimer();
  });
}

void Deadlines::OnTimer() {
  std::vector<std::pair<Deadline::Hook, std::shared_ptr<void>>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    timer_at_ = Clock::time_point::max();
    const Clock::time_point now = Clock::now();
    while (!heap_.empty() && heap_.front()->at_ <= now) {
      Deadline* d = heap_.front();
      Remove(0);
      // Under the lock an owner is either alive (the reference keeps it so)
      // or in its destructor, blocked in Cancel until we are done.
      if (std::shared_ptr<void> owner = d->owner_.lock()) {
        due.emplace_back(d->hook_, std::move(owner));
      }
      d->owner_.reset();
    }
    Rearm();
  }
  for (auto& [hook, owner] : due) hook(std::move(owner));
}

}  // namespace tailgate

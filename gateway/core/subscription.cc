#include "gateway/core/subscription.h"

#include <algorithm>
#include <utility>

#include <boost/asio/post.hpp>

#include "gateway/auth/grants.h"
#include "gateway/diag/logging.h"

namespace tailgate {

namespace net = boost::asio;

namespace {

using Clock = std::chrono::steady_clock;

Clock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

// `valid_until` on the steady clock the timer runs on; max() for never.
Clock::time_point SteadyDeadline(absl::Time valid_until) {
  if (valid_until == absl::InfiniteFuture()) return Clock::time_point::max();
  return Clock::now() + ToSteady(TokenTimeLeft(valid_until, absl::Now()));
}

}  // namespace

Subscription::Subscription(Hub* hub, net::any_io_executor strand, store::TopicFilter filter,
                           SubscriptionOptions options)
    : hub_(hub),
      strand_(std::move(strand)),
      starting_(new Starting{options.resume, options.presence, std::move(options.stream)}),
      deadline_(SteadyDeadline(options.valid_until)),
      heartbeat_(ToSteady(options.heartbeat)),
      write_timeout_(ToSteady(options.write_timeout)),
      cursor_(hub, strand_, std::move(filter)),
      timer_(strand_, &Subscription::OnDeadline),
      last_activity_(Clock::now()),
      live_marker_(options.live_marker) {}

Subscription::~Subscription() {
  // Off the registry before the cursor whose patterns it lists can go.
  registration_.Reset();
}

void Subscription::Start() {
  if (deadline_ != Clock::time_point::max()) ArmTimerBy(deadline_);
  // Where to start may need a store lookup (since=..., last=...): it
  // completes on a store thread or inline, and continues on the strand.
  hub_->ResolveStart(starting_->resume, cursor_.filter(),
                     [self = shared_from_this()](absl::StatusOr<Hub::Start> s) {
    net::post(self->strand_, [self, s = std::move(s)]() mutable { self->OnResolved(std::move(s)); });
  });
}

void Subscription::OnResolved(absl::StatusOr<Hub::Start> start) {
  if (closed_ || ending_) return;
  if (!start.ok()) {
    TG_LOG(WARNING) << "subscription: cannot resolve the start: " << start.status().ToString();
    return EndWith(absl::IsUnavailable(start.status()) ? EndReason::kDraining
                                                        : EndReason::kServerError,
                   start.status());
  }
  std::unique_ptr<Starting> starting = std::move(starting_);
  start_position_ = start->position;
  start->notify_live = live_marker_;
  // The subscription owns the cursor: the cursor keeps it alive as it needs.
  cursor_.Open(weak_from_this(), *std::move(start));
  if (starting->presence != nullptr) {
    // The registry lists the cursor's patterns (no copy of its own).
    absl::Status s = starting->presence->Register(
        &registration_, std::move(starting->stream), &cursor_.filter().patterns(),
        start_position_, weak_from_this(), &Subscription::OnRevoked);
    // A revocation made between the request's check and now.
    if (!s.ok()) return EndWith(EndReason::kRevoked, std::move(s));
  }
  started_ = true;
  // The opening waits for the first batch if the cursor has one at once: a
  // batch from the tail cache is posted by Next before the check below is,
  // so it comes first and both go out in one write. Otherwise (nothing yet,
  // or a store read) the check writes the opening alone, so the client sees
  // the stream open at once.
  opening_pending_ = true;
  RequestNext();
  net::post(strand_, [self = shared_from_this()] { self->FlushOpening(); });
}

void Subscription::FlushOpening() {
  if (!opening_pending_ || closed_ || ending_ || writing_) return;
  opening_pending_ = false;
  BeginWrite();
  WriteOpening(start_position_, std::nullopt);
}

void Subscription::RequestNext() {
  if (next_pending_ || closed_ || ending_ || !started_) return;
  next_pending_ = true;
  // `this` alone (no allocation for the callback): the cursor calls back
  // only while it holds the subscription, its owner.
  cursor_.Next([this](Cursor::Batch batch) { OnBatch(std::move(batch)); });
}

void Subscription::OnBatch(Cursor::Batch batch) {
  next_pending_ = false;
  if (closed_ || ending_) return;  // The end is decided: not one more event.
  if (!batch.status.ok()) {
    // The hub stopped or the store failed: the client resumes from its last
    // id elsewhere or later.
    return EndWith(absl::IsUnavailable(batch.status) ? EndReason::kDraining
                                                     : EndReason::kServerError,
                   batch.status);
  }
  if (writing_) {
    queued_ = std::make_unique<Cursor::Batch>(std::move(batch));
    return;
  }
  Deliver(std::move(batch));
}

void Subscription::Deliver(Cursor::Batch batch) {
  // The timer may not have run yet at the deadline: check here too, so
  // nothing read after the token expired goes out (no clock read for
  // streams without a token).
  if (deadline_ != Clock::time_point::max() && Clock::now() >= deadline_) {
    deadline_ = Clock::time_point::max();
    return EndWith(EndReason::kTokenExpired, absl::OkStatus());
  }
  if (!batch.events.empty()) {
    in_flight_id_ = batch.events.back()->event.id;
    has_in_flight_id_ = true;
  } else if (batch.reset) {
    in_flight_id_ = batch.reset->resume;
    has_in_flight_id_ = true;
  }
  BeginWrite();
  if (opening_pending_) {
    opening_pending_ = false;
    return WriteOpening(start_position_, std::move(batch));
  }
  WriteBatch(std::move(batch));
}

void Subscription::BeginWrite() {
  writing_ = true;
  write_started_ = Clock::now();
  if (write_timeout_ != Clock::duration::zero()) ArmTimerBy(write_started_ + write_timeout_);
}

void Subscription::WriteDone(bool ok) {
  writing_ = false;
  last_activity_ = Clock::now();
  if (ok && has_in_flight_id_) {
    sent_id_ = in_flight_id_;
    has_sent_ = true;
    registration_.set_position(sent_id_);
  }
  has_in_flight_id_ = false;
  if (closed_) return;
  if (!ok) {
    SetReason(EndReason::kWriteError);
    return Close();
  }
  if (end_written_) return Close();
  if (ending_) return End();
  if (heartbeat_ != Clock::duration::zero()) ArmTimerBy(last_activity_ + heartbeat_);
  if (queued_) {
    Cursor::Batch batch = std::move(*queued_);
    queued_.reset();
    return Deliver(std::move(batch));
  }
  RequestNext();
}

void Subscription::Drain() {
  if (closed_) return;
  SetReason(EndReason::kDraining);
  if (!started_) return Close();
  End();
}

void Subscription::Revoke(absl::Status reason) {
  if (closed_) return;
  // DEBUG: a pattern revocation may end thousands; Revoke logs the count.
  TG_LOG(DEBUG) << "subscription: revoked: " << reason.message();
  EndWith(EndReason::kRevoked, std::move(reason));
}

void Subscription::PeerClosed() {
  SetReason(EndReason::kClientClosed);
  Close();
}

void Subscription::EndWith(EndReason reason, absl::Status status) {
  if (closed_) return;
  SetReason(reason, std::move(status));
  queued_.reset();
  End();
}

void Subscription::End() {
  if (closed_) return;
  ending_ = true;
  if (writing_) return;  // WriteDone comes back here.
  if (opening_pending_) {
    // The stream was started: it opens before its last words.
    opening_pending_ = false;
    BeginWrite();
    return WriteOpening(start_position_, std::nullopt);
  }
  cursor_.Close();
  queued_.reset();
  if (end_written_) return Close();
  end_written_ = true;
  BeginWrite();
  WriteEnd(MakeEnding());
}

void Subscription::Close() {
  if (closed_) return;
  closed_ = true;
  registration_.Reset();  // Off ListStreams at once, not when the last handler lets go.
  cursor_.Close();
  queued_.reset();
  timer_.Cancel();
  CloseTransport(MakeEnding());
}

void Subscription::SetReason(EndReason reason, absl::Status status) {
  if (end_reason_) return;
  end_reason_ = reason;
  end_status_ = std::move(status);
}

Subscription::Ending Subscription::MakeEnding() const {
  return Ending{end_reason_.value_or(EndReason::kClientClosed), end_status_, started_};
}

// One timer serves the token's deadline, the write timeout and the
// heartbeat: it fires at the earliest of what is due and re-checks all.
void Subscription::ArmTimer() {
  Clock::time_point at = deadline_;
  if (writing_) {
    if (write_timeout_ != Clock::duration::zero()) at = std::min(at, write_started_ + write_timeout_);
  } else if (heartbeat_ != Clock::duration::zero() && !ending_) {
    at = std::min(at, last_activity_ + heartbeat_);
  }
  if (at == Clock::time_point::max()) return;
  ArmTimerBy(at);
}

void Subscription::ArmTimerBy(Clock::time_point at) {
  at = std::min(at, deadline_);
  if (timer_at_ <= at) return;  // Armed already, for no later.
  timer_at_ = at;
  timer_.Arm(at, weak_from_this());
}

// The registry calls this from an admin thread: only post to the strand.
void Subscription::OnRevoked(const std::shared_ptr<void>& owner, const absl::Status& reason) {
  auto self = std::static_pointer_cast<Subscription>(owner);
  net::any_io_executor strand = self->strand_;
  net::post(strand, [self = std::move(self), reason] { self->Revoke(reason); });
}

// A deadline passed (any thread of the context): look on the strand.
void Subscription::OnDeadline(std::shared_ptr<void> owner) {
  auto self = std::static_pointer_cast<Subscription>(std::move(owner));
  net::any_io_executor strand = self->strand_;
  net::post(strand, [self = std::move(self)] { self->OnTimer(); });
}

void Subscription::OnTimer() {
  timer_at_ = Clock::time_point::max();
  if (closed_) return;
  const Clock::time_point now = Clock::now();
  if (now >= deadline_) {
    deadline_ = Clock::time_point::max();
    TG_LOG(DEBUG) << "subscription: token expired; ending the stream";
    EndWith(EndReason::kTokenExpired, absl::OkStatus());
    if (closed_) return;
  }
  if (writing_) {
    if (write_timeout_ != Clock::duration::zero() && now - write_started_ >= write_timeout_) {
      TG_LOG(DEBUG) << "subscription: a write timed out; dropping the peer";
      SetReason(EndReason::kWriteTimeout);
      return Close();
    }
  } else if (started_ && !opening_pending_ && !ending_ && heartbeat_ != Clock::duration::zero() &&
             now - last_activity_ >= heartbeat_) {
    BeginWrite();
    WriteHeartbeat();
    if (closed_) return;  // The write failed at once.
  }
  ArmTimer();
}

}  // namespace tailgate

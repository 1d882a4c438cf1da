// One subscription's life, written once for every transport (SSE over
// HTTP/1.1 and HTTP/2, gRPC Subscribe): resolve where it starts, join the
// stream registry, replay and live-tail through one Cursor with one write in
// flight, heartbeats, a write timeout, the token's expiry, revocation, drain
// and the peer going away.
//
//   Start ─ResolveStart─▶ Register ─▶ WriteOpening (+ first batch) ─▶ WriteDone
//                                                                     │
//          ┌─▶ Cursor::Next ─▶ WriteBatch ─▶ WriteDone ───────────────┤ (or WriteHeartbeat)
//          └──────────────────────────────────────────────────────────┘
//   first end reason ─▶ (write in flight completes) ─▶ WriteEnd ─▶ WriteDone ─▶ CloseTransport
//
// A transport derives from Subscription and implements the sink: the
// protected pure virtual Write*/CloseTransport, i.e. how each step goes on
// its wire. Every Write* completes with exactly one WriteDone (inline or
// later, on the strand). The state machine decides everything else: what is
// written when, the order of the end, which reason counts.
//
// Ends (EndReason): the first reason given is the one that counts. Drain,
// revocation, token expiry and store errors end the stream *after* the write
// in flight, with WriteEnd; the peer going away, a failed write or a write
// timeout close it at once (CloseTransport only). Events read but not yet
// written when the end is decided are dropped: the client's resume point
// (Last-Event-ID, after_id) is still before them.
//
// Thread-safety: construct on any thread; everything else runs on `strand`
// (the transport posts Drain / Revoke / PeerClosed there), and so does every
// hook. Ownership: shared; the cursor's callbacks, the timer and the
// registry's revoke hook keep the subscription alive as needed. The hub must
// outlive it; `presence` too.
#ifndef TAILGATE_GATEWAY_CORE_SUBSCRIPTION_H_
#define TAILGATE_GATEWAY_CORE_SUBSCRIPTION_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/core/deadlines.h"
#include "gateway/core/hub.h"
#include "gateway/core/resume.h"
#include "gateway/core/presence.h"
#include "store/topic.h"

namespace tailgate {

// Why a subscription ended.
enum class EndReason {
  kClientClosed,  // The peer went away (closed, reset, cancelled).
  kWriteError,    // A write failed.
  kWriteTimeout,  // A write did not complete within write_timeout.
  kDraining,      // The server drains, or the store is unavailable (status).
  kServerError,   // The store failed, or the start could not be resolved (status).
  kTokenExpired,  // The token that authorized the stream expired.
  kRevoked,       // A revocation refused (at start) or ended it (status).
};

struct SubscriptionOptions {
  // Where it starts (the request's resume point) and whether the caught-up
  // marker is wanted (Batch::live).
  ResumeSpec resume;
  bool live_marker = false;
  // When the token that authorized it stops being valid; InfiniteFuture:
  // never. Nothing read after it is written; the stream ends kTokenExpired.
  absl::Time valid_until = absl::InfiniteFuture();
  // WriteHeartbeat after this long without a write; zero: never.
  absl::Duration heartbeat = absl::ZeroDuration();
  // A write not done after this long closes the stream; zero: never.
  absl::Duration write_timeout = absl::ZeroDuration();
  // Joins this registry (ListStreams, Revoke) once the start is resolved,
  // with `stream` and the filter's patterns; null: none.
  StreamRegistry* presence = nullptr;
  StreamInfo stream;
};

class Subscription : public std::enable_shared_from_this<Subscription> {
 public:
  struct Ending {
    EndReason reason;
    absl::Status status;  // Why, when a status says it (store, revocation).
    bool started;         // The opening was written (the stream is open).
  };

  Subscription(Hub* hub, boost::asio::any_io_executor strand, store::TopicFilter filter,
               SubscriptionOptions options);
  virtual ~Subscription();

  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // On the strand, once: resolves the start and runs the stream.
  void Start();
  // On the strand. The server drains: the stream ends after the write in
  // flight (kDraining); one not started yet closes at once.
  void Drain();
  // On the strand. A revocation (UNAUTHENTICATED / PERMISSION_DENIED) ends
  // the stream after the write in flight.
  void Revoke(absl::Status reason);
  // On the strand. The peer went away: close at once.
  void PeerClosed();

  // The end decided so far (the first reason), if any.
  std::optional<EndReason> end_reason() const { return end_reason_; }
  // The resume id of the last batch written (its last event, or a reset's
  // resume id), if any; else where the subscription started.
  uint64_t resume_hint() const { return has_sent_ ? sent_id_ : start_position_; }
  bool has_sent() const { return has_sent_; }

  // The executor everything of the subscription runs on.
  boost::asio::any_io_executor strand() const { return strand_; }

 protected:
  Hub* hub() const { return hub_; }

  // --- The sink. Each Write* ends with exactly one WriteDone(ok).
  // The stream starts at `position`: what opens it (SSE: the response head
  // and `retry:`; gRPC: nothing), followed in the same write by `first`, the
  // first batch, when the cursor had one at once (a resume from the tail
  // cache: one write instead of two).
  virtual void WriteOpening(uint64_t position, std::optional<Cursor::Batch> first) = 0;
  // A batch: a reset, events in id order, the caught-up marker.
  virtual void WriteBatch(Cursor::Batch batch) = 0;
  // The stream was idle for SubscriptionOptions::heartbeat.
  virtual void WriteHeartbeat() = 0;
  // The end, for `ending` (nothing in flight): the last words on the wire
  // (an error response when !ending.started; a token-expired notice; the
  // end of the body; gRPC's final status). Then WriteDone.
  virtual void WriteEnd(const Ending& ending) = 0;
  // Release the transport now (socket shutdown, stream reset, RPC
  // finished); `ending` as for WriteEnd. Called once, last.
  virtual void CloseTransport(const Ending& ending) = 0;

  // Completes the Write* in flight; `ok` false when the peer is gone.
  void WriteDone(bool ok);

 private:
  using Clock = std::chrono::steady_clock;

  void OnResolved(absl::StatusOr<Hub::Start> start);
  // Writes the opening alone, if it is still pending.
  void FlushOpening();
  void RequestNext();
  void OnBatch(Cursor::Batch batch);
  void Deliver(Cursor::Batch batch);
  void BeginWrite();
  // Records the reason (the first one counts) and ends after the write in flight.
  void EndWith(EndReason reason, absl::Status status);
  void End();
  void Close();
  void SetReason(EndReason reason, absl::Status status = absl::OkStatus());
  Ending MakeEnding() const;
  void ArmTimer();
  void ArmTimerBy(Clock::time_point at);
  static void OnDeadline(std::shared_ptr<void> owner);
  static void OnRevoked(const std::shared_ptr<void>& owner, const absl::Status& reason);
  void OnTimer();

  // What only the start needs (released once started: a subscription is
  // idle most of its life, and there are many).
  struct Starting {
    ResumeSpec resume;
    StreamRegistry* presence;
    StreamInfo stream;
  };

  Hub* const hub_;
  const boost::asio::any_io_executor strand_;
  std::unique_ptr<Starting> starting_;
  Clock::time_point deadline_;  // The token's; max() when none or passed.
  const Clock::duration heartbeat_;
  const Clock::duration write_timeout_;

  Cursor cursor_;  // Opened once the start is resolved.
  // Lists cursor_'s patterns: declared after it, so it goes first.
  StreamRegistry::Registration registration_;
  Deadline timer_;  // Heartbeat, write timeout, token expiry: the earliest.
  Clock::time_point timer_at_ = Clock::time_point::max();  // When armed for; max(): not armed.
  std::unique_ptr<Cursor::Batch> queued_;  // Read while a write was in flight (rare: not inline).
  Clock::time_point write_started_;
  Clock::time_point last_activity_;
  uint64_t start_position_ = 0;
  uint64_t sent_id_ = 0;       // When has_sent_.
  uint64_t in_flight_id_ = 0;  // The resume id the write in flight ends at, when has_in_flight_id_.
  std::optional<EndReason> end_reason_;
  absl::Status end_status_;
  bool has_sent_ = false;
  bool has_in_flight_id_ = false;
  bool started_ = false;
  bool opening_pending_ = false;  // Started, the opening not written yet.
  bool writing_ = false;
  bool next_pending_ = false;
  bool ending_ = false;       // The end is decided.
  bool end_written_ = false;  // WriteEnd was called.
  bool closed_ = false;
  const bool live_marker_;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CORE_SUBSCRIPTION_H_

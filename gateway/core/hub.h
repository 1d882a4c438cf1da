// The fan-out hub: one commit listener on the log, events encoded once (by
// the HubOptions::encoder the transports share), a
// tail cache of recent frames, and cursors that deliver a subscription's
// events in id order from the cache or, when they are behind it, from the
// store.
//
//   log committer ──OnCommit──▶ Hub: encode once, append to the tail cache,
//                                    advance the watermark, wake cursors
//   Cursor (one per subscriber, on the subscriber's strand):
//     position >= watermark  → wait (registered with the hub)
//     position inside cache  → up to max_batch_events shared frames
//     position behind cache  → a bounded Log::Read on the store executor
//
// A cursor is "last id considered", never a queue: replay and live are the
// same loop, so there is no hand-over between them and no gap or duplicate.
// Per-subscriber memory is the batch handed out (bounded by
// max_batch_events/bytes), whatever the subscriber's speed.
//
// Thread-safety: Hub methods are thread-safe. A Cursor is driven from its
// strand only (Next, Close) and calls back on that strand.
// Lifetime: Stop() before destroying the executors cursors post to; the Log
// must outlive the Hub, and the Hub every Cursor (a cursor leaves the hub's
// registry when it is closed or destroyed).
#ifndef TAILGATE_GATEWAY_CORE_HUB_H_
#define TAILGATE_GATEWAY_CORE_HUB_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "gateway/core/encoded_event.h"
#include "gateway/core/resume.h"
#include "store/log.h"
#include "store/topic.h"

namespace tailgate {

struct HubOptions {
  // Builds the shared form of each committed event (once per event, for
  // every subscriber): a transport with a wire format supplies its own, so
  // its frames are encoded once (gateway/sse/frame.h). Null:
  // PlainEventEncoder(). Must outlive the hub.
  const EventEncoder* encoder = nullptr;
  // Tail cache bounds (the oldest frames go first when either is exceeded).
  size_t cache_events = 100'000;
  size_t cache_bytes = size_t{64} << 20;
  // Threads running blocking store reads for cursors behind the cache.
  int store_threads = 4;
  // A batch (one gathered write) holds at most this many events / bytes
  // (at least one event).
  size_t max_batch_events = 256;
  size_t max_batch_bytes = 32 * 1024;
  // Cached events examined per cache visit before yielding (sparse filters).
  size_t max_scan_events = 8192;
  // Wake-up coalescing: waiting cursors are woken at most once per interval.
  // A commit within `wake_interval` of the previous wake-up round is held
  // back until the interval ends; every commit in between then goes out in
  // one gathered write per subscriber. A commit after a quiet period wakes at
  // once (no added latency at low rates); cursors that are busy (writing)
  // when a commit lands pick it up as soon as their write completes. Zero:
  // every commit wakes its cursors at once.
  std::chrono::microseconds wake_interval{1000};
};

class Cursor;

class Hub {
 public:
  // Registers the commit listener. `log` must outlive the hub.
  Hub(store::Log* log, const HubOptions& options);
  ~Hub();  // Calls Stop().

  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Removes the commit listener, ends every waiting cursor (their pending
  // Next gets UNAVAILABLE), and joins the store executor. Idempotent.
  void Stop();

  // The highest id delivered to the hub (every lower id too).
  uint64_t watermark() const;
  store::Log* log() const { return log_; }
  const HubOptions& options() const { return options_; }
  const EventEncoder& encoder() const { return encoder_; }

  // Resolves where a new subscription starts: kLive and kAfterId need no I/O
  // and complete inline; kEarliest/kTime run on the store executor. `done`
  // runs on the caller's thread (inline) or on a store thread: post it.
  // A kAfterId above every assigned id starts live with a kUnknownId reset.
  // kLast reads back from the watermark (Log::CursorBeforeLast).
  struct Start {
    uint64_t position = 0;
    std::optional<Reset> reset;
    // The watermark when the start was resolved: a cursor that asked for the
    // marker (notify_live, set by the caller) reports Batch::live once its
    // position reaches it.
    uint64_t live_at = 0;
    bool notify_live = false;
  };
  void ResolveStart(const ResumeSpec& spec, const store::TopicFilter& filter,
                    std::function<void(absl::StatusOr<Start>)> done);

  struct CacheStats {
    size_t events = 0;
    size_t bytes = 0;
    uint64_t first_id = 0;  // Covers ids (base, watermark].
    size_t waiting = 0;     // Cursors currently waiting.
  };
  CacheStats cache_stats() const;

 private:
  friend class Cursor;

  void OnCommit(absl::Span<const store::Event> committed, uint64_t watermark);
  // mu_ held exclusively. Moves the waiting cursors with an event on one of
  // `topics` (distinct) out of the waiting state into *wake.
  void CollectWakeLocked(const std::vector<std::string>& topics,
                         std::vector<std::shared_ptr<Cursor>>* wake);
  // mu_ held exclusively. If `cursor` is waiting, clears that and appends it
  // to *out (unless it is being destroyed).
  void TakeWaitingLocked(Cursor* cursor, std::vector<std::shared_ptr<Cursor>>* out);
  // The held-back wake-up round (see HubOptions::wake_interval).
  void OnWakeTimer();
  void PostWakes(std::vector<std::shared_ptr<Cursor>> wake, uint64_t previous);

  enum class Poll { kEvents, kCaughtUp, kMiss };
  // kMiss when *position is behind the cache; kCaughtUp when it is at the
  // watermark; otherwise appends matching cached events with id > *position
  // (within batch and scan limits) and advances *position past what it
  // examined.
  Poll ReadCache(const store::TopicFilter& filter, uint64_t* position,
                 std::vector<EncodedEventPtr>* out, size_t* out_bytes) const;
  // Registers the cursor to be woken by the next commit with a matching
  // event, unless events above `position` already exist (returns false).
  enum class WaitResult { kWaiting, kBehind, kStopped };
  WaitResult Wait(Cursor* cursor, uint64_t position);
  // Leaves the registry (waiting or not). Idempotent.
  void Leave(Cursor* cursor);
  // A cursor is registered (by topic, or as a wildcard) from its first Wait
  // until it is closed or destroyed, so waiting and waking move a flag, not
  // hash-table nodes. mu_ held exclusively.
  void RegisterLocked(Cursor* cursor);
  void UnregisterLocked(Cursor* cursor);
  bool RunOnStore(std::function<void()> fn);

  store::Log* const log_;
  const HubOptions options_;
  const EventEncoder& encoder_;
  uint64_t listener_ = 0;
  bool listening_ = false;

  // std:: mutexes, not absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer, so only std::/pthread locking is visible to it.
  mutable std::shared_mutex mu_;  // Guards everything below up to store_mu_.
  bool stopped_ = false;
  uint64_t watermark_ = 0;
  // The tail cache holds every committed event with id in (cache_base_,
  // watermark_] once cache_valid_ (set by the first commit seen).
  bool cache_valid_ = false;
  uint64_t cache_base_ = 0;
  std::deque<EncodedEventPtr> cache_;
  size_t cache_bytes_ = 0;
  // Registered cursors, by exact topic, and those with a wildcard pattern
  // (checked against every committed event). Each entry knows which of the
  // cursor's topics it is, so removal is a swap with the last entry.
  struct Slot {
    Cursor* cursor;
    uint32_t topic_index;  // Into Cursor::exact_ / topic_slots_.
  };
  std::unordered_map<std::string, std::vector<Slot>> by_topic_;
  std::vector<Cursor*> wildcard_;
  // Registered cursors with their waiting flag set; changed under the shared
  // lock by Wait, hence atomic.
  std::atomic<size_t> waiting_count_{0};
  // Wake-up coalescing: when the last round started; whether a held-back
  // round is scheduled, the topics it covers and the watermark before its
  // first commit.
  std::chrono::steady_clock::time_point last_wake_round_{};
  bool wake_scheduled_ = false;
  std::unordered_set<std::string> held_topics_;
  uint64_t held_previous_ = 0;
  // The held-back rounds run on a thread of their own, never queued behind
  // store reads (a replay storm must not delay live subscribers).
  std::unique_ptr<boost::asio::thread_pool> wake_pool_;
  std::unique_ptr<boost::asio::steady_timer> wake_timer_;  // On wake_pool_.

  std::mutex store_mu_;  // Guards store_pool_.
  std::unique_ptr<boost::asio::thread_pool> store_pool_;
};

// One subscription's position in the log, driven on `strand`.
//
// A cursor is part of the object that owns it (a Subscription: one
// allocation per subscriber, not two) and is kept alive through that
// owner: Open names it, and while the cursor needs to outlive a call (a
// posted batch, a wake-up, a store read) it holds a reference to the owner.
// The owner's strand must outlive the cursor (it is referred to, not
// copied). Make builds a cursor that owns itself, for users without such an
// owner.
class Cursor {
 public:
  struct Batch {
    std::optional<Reset> reset;            // Send before events when set.
    std::vector<EncodedEventPtr> events;   // Ascending ids, all matching.
    size_t bytes = 0;                      // Sum of events' frame_bytes.
    bool from_store = false;               // Read from the store (behind the cache).
    // Everything up to Start::live_at is delivered with this batch: send the
    // caught-up marker after its events. Once per cursor, if asked for.
    bool live = false;
    uint64_t live_at = 0;
    absl::Status status;                   // Not OK: the subscription ends.
  };
  using Callback = std::function<void(Batch)>;

  // Not open yet: Open before Next.
  Cursor(Hub* hub, const boost::asio::any_io_executor& strand, store::TopicFilter filter);
  ~Cursor();  // Leaves the hub's registry (any thread).

  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  // A cursor that owns itself (and a copy of `strand`), already open.
  static std::shared_ptr<Cursor> Make(Hub* hub, boost::asio::any_io_executor strand,
                                      store::TopicFilter filter, Hub::Start start);

  // Once, on the strand: starts at `start`; `owner` holds this cursor.
  void Open(std::weak_ptr<void> owner, Hub::Start start);
  // On the strand: asks for the next non-empty batch; `done` runs later on
  // the strand (never inline). One request at a time; a new one replaces none.
  void Next(Callback done);
  // On the strand: no more callbacks; leaves the hub's wait list.
  void Close();

  // Last id considered (delivered or skipped as not matching).
  uint64_t position() const { return position_; }
  const store::TopicFilter& filter() const { return filter_; }

 private:
  friend class Hub;
  // `direct`: called from a handler of its own on the strand (not from
  // Next), so a batch may go to the callback without another post.
  void Pump(bool direct = false);
  void Deliver(Batch batch, bool direct = false);
  // Whether a batch is due only for the caught-up marker; TakeLive marks it
  // sent and fills the batch's live fields.
  bool LiveDue() const { return notify_live_ && position_ >= live_at_; }
  void TakeLive(Batch* batch);
  // Moves the pending reset, if any, into the batch.
  void TakeReset(Batch* batch);
  void OnWake(uint64_t previous_watermark);
  void OnStopped();
  void StartStoreRead();
  void OnStoreRead(uint64_t requested, absl::StatusOr<store::ReadResult> result,
                   std::vector<EncodedEventPtr> encoded, size_t bytes);

  // This cursor, kept alive through its owner; null once the owner is gone.
  std::shared_ptr<Cursor> Pin();

  Hub* const hub_;
  const boost::asio::any_io_executor& strand_;
  const store::TopicFilter filter_;
  std::weak_ptr<void> owner_;  // Set by Open.
  // The filter's distinct patterns without wildcards, as indexes into
  // filter_.patterns(). Inline (no allocation per cursor) up to 4.
  absl::InlinedVector<uint32_t, 4> exact_;
  const std::string& exact_topic(size_t k) const { return filter_.patterns()[exact_[k]].str(); }
  bool has_wildcard_ = false;

  // Hub registration; guarded by the hub's mu_. `hub_waiting_` is set by
  // Wait (under the shared lock: only this cursor's strand writes it then)
  // and cleared by a wake-up, Stop or Leave (exclusive lock). `registered_`
  // and the slots are written only from this cursor's own Wait/Leave.
  bool registered_ = false;
  absl::InlinedVector<uint32_t, 4> topic_slots_;  // Index in by_topic_[exact_topic(i)].
  size_t wildcard_slot_ = 0;
  std::atomic<bool> hub_waiting_{false};

  // Strand state.
  uint64_t position_ = 0;
  std::unique_ptr<Reset> pending_reset_;  // Rare: held apart from the idle cursor.
  uint64_t live_at_ = 0;
  bool notify_live_ = false;
  Callback pending_;
  bool waiting_ = false;
  bool reading_ = false;
  bool closed_ = false;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CORE_HUB_H_

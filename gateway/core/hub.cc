#include "gateway/core/hub.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gateway/diag/logging.h"

namespace tailgate {

namespace net = boost::asio;

Hub::Hub(store::Log* log, const HubOptions& options)
    : log_(log),
      options_(options),
      encoder_(options.encoder != nullptr ? *options.encoder : PlainEventEncoder()) {
  store_pool_ = std::make_unique<net::thread_pool>(std::max(1, options_.store_threads));
  wake_pool_ = std::make_unique<net::thread_pool>(1);
  wake_timer_ = std::make_unique<net::steady_timer>(wake_pool_->get_executor());
  listener_ = log_->AddCommitListener(
      [this](absl::Span<const store::Event> committed, uint64_t watermark) {
        OnCommit(committed, watermark);
      });
  listening_ = true;
  // Commits that completed before the listener was in place are not in the
  // cache; the watermark still covers them (cursors read them from the store).
  std::unique_lock lock(mu_);
  watermark_ = std::max(watermark_, log_->Watermark());
}

Hub::~Hub() { Stop(); }

void Hub::Stop() {
  if (listening_) {
    log_->RemoveCommitListener(listener_);
    listening_ = false;
  }
  std::vector<std::shared_ptr<Cursor>> stopped;
  {
    std::unique_lock lock(mu_);
    if (!stopped_) {
      stopped_ = true;
      if (wake_timer_) wake_timer_->cancel();
      // Every waiting cursor ends; busy ones see kStopped at their next Wait.
      for (auto& [topic, slots] : by_topic_) {
        for (const Slot& slot : slots) TakeWaitingLocked(slot.cursor, &stopped);
      }
      for (Cursor* c : wildcard_) TakeWaitingLocked(c, &stopped);
    }
  }
  for (std::shared_ptr<Cursor>& c : stopped) {
    net::post(c->strand_, [c] { c->OnStopped(); });
  }
  std::unique_ptr<net::thread_pool> pool;
  {
    std::lock_guard lock(store_mu_);
    pool = std::move(store_pool_);
  }
  // Reads already queued finish; their results reach cursors that then see
  // the hub stopped.
  if (pool) pool->join();
  // The cancelled timer's handler has run once the wake pool has no work.
  if (wake_pool_) wake_pool_->join();
  std::unique_lock lock(mu_);
  wake_timer_.reset();  // Before its executor goes.
}

uint64_t Hub::watermark() const {
  std::shared_lock lock(mu_);
  return watermark_;
}

Hub::CacheStats Hub::cache_stats() const {
  std::shared_lock lock(mu_);
  CacheStats s;
  s.events = cache_.size();
  s.bytes = cache_bytes_;
  s.first_id = cache_base_;
  s.waiting = waiting_count_.load(std::memory_order_relaxed);
  return s;
}

bool Hub::RunOnStore(std::function<void()> fn) {
  std::lock_guard lock(store_mu_);
  if (!store_pool_) return false;
  net::post(*store_pool_, std::move(fn));
  return true;
}

void Hub::ResolveStart(const ResumeSpec& spec, const store::TopicFilter& filter,
                       std::function<void(absl::StatusOr<Start>)> user_done) {
  // Every start records the watermark it found, for the caught-up marker.
  auto done = [this, user_done = std::move(user_done)](absl::StatusOr<Start> start) {
    if (start.ok()) start->live_at = std::max(start->position, watermark());
    user_done(std::move(start));
  };
  switch (spec.kind) {
    case ResumeSpec::Kind::kLive:
      done(Start{watermark(), std::nullopt});
      return;
    case ResumeSpec::Kind::kAfterId: {
      // An id below this log's first: issued by a log that was lost or
      // replaced. Everything this log holds is new to the client.
      if (const uint64_t floor = log_->IdsStartAfter(); spec.after_id > 0 && spec.after_id <= floor) {
        done(Start{floor, Reset{Reset::Reason::kUnknownId, spec.after_id, floor}});
        return;
      }
      if (spec.after_id <= log_->LastAssignedId()) {
        done(Start{spec.after_id, std::nullopt});
        return;
      }
      // An id above anything this process has seen assigned: a different
      // log (wiped data dir, another deployment) or a forged id, which gets
      // a reset and continues live. But with several nodes on one JetStream
      // stream, a client failing over from a node that was ahead brings an
      // id this node has not followed yet: the log asks its storage (off the
      // event loop), and a real id is resumed from without a reset, which
      // would replay events the client already has.
      auto shared_done =
          std::make_shared<std::function<void(absl::StatusOr<Start>)>>(std::move(done));
      const bool queued = RunOnStore([this, spec, shared_done] {
        absl::StatusOr<bool> assigned = log_->IdAssigned(spec.after_id);
        if (!assigned.ok()) {
          (*shared_done)(assigned.status());
        } else if (*assigned) {
          (*shared_done)(Start{spec.after_id, std::nullopt});
        } else {
          const uint64_t w = watermark();
          (*shared_done)(Start{w, Reset{Reset::Reason::kUnknownId, spec.after_id, w}});
        }
      });
      if (!queued) (*shared_done)(absl::UnavailableError("server is shutting down"));
      return;
    }
    case ResumeSpec::Kind::kEarliest:
    case ResumeSpec::Kind::kTime:
    case ResumeSpec::Kind::kLast:
      break;
  }
  auto shared_done = std::make_shared<std::function<void(absl::StatusOr<Start>)>>(std::move(done));
  const bool queued = RunOnStore([this, spec, filter, shared_done] {
    absl::StatusOr<uint64_t> cursor =
        spec.kind == ResumeSpec::Kind::kEarliest ? log_->EarliestCursor(filter)
        : spec.kind == ResumeSpec::Kind::kLast
            // Back from the hub's watermark: the events a live cursor would
            // be past, so the last N and live join without a gap.
            ? log_->CursorBeforeLast(filter, spec.last, watermark())
            : log_->CursorAtTime(spec.time);
    if (!cursor.ok()) {
      (*shared_done)(cursor.status());
      return;
    }
    (*shared_done)(Start{*cursor, std::nullopt});
  });
  if (!queued) (*shared_done)(absl::UnavailableError("server is shutting down"));
}

void Hub::OnCommit(absl::Span<const store::Event> committed, uint64_t watermark) {
  // Encoding happens here, once per event, outside the lock.
  std::vector<EncodedEventPtr> encoded;
  encoded.reserve(committed.size());
  for (const store::Event& e : committed) encoded.push_back(encoder_.Encode(e));

  std::vector<std::shared_ptr<Cursor>> wake;
  uint64_t previous = 0;
  {
    std::unique_lock lock(mu_);
    if (stopped_) return;
    previous = watermark_;
    if (!cache_valid_ && !encoded.empty()) {
      cache_valid_ = true;
      cache_base_ = encoded.front()->event.id - 1;
    }
    for (EncodedEventPtr& e : encoded) {
      const uint64_t top = cache_.empty() ? cache_base_ : cache_.back()->event.id;
      if (e->event.id <= top) continue;  // Already cached (start-up overlap).
      cache_bytes_ += e->MemoryBytes();
      cache_.push_back(e);
    }
    while (!cache_.empty() &&
           (cache_.size() > options_.cache_events || cache_bytes_ > options_.cache_bytes)) {
      cache_base_ = cache_.front()->event.id;
      cache_bytes_ -= cache_.front()->MemoryBytes();
      cache_.pop_front();
    }
    watermark_ = std::max(watermark_, watermark);
    if (watermark_ == previous || waiting_count_.load(std::memory_order_relaxed) == 0) return;

    // Distinct topics of the commit.
    std::vector<std::string> topics;
    if (committed.size() <= 64) {
      for (const store::Event& e : committed) {
        if (std::find(topics.begin(), topics.end(), e.topic) == topics.end()) {
          topics.push_back(e.topic);
        }
      }
    } else {
      std::unordered_set<std::string_view> seen;
      for (const store::Event& e : committed) {
        if (seen.insert(e.topic).second) topics.push_back(e.topic);
      }
    }

    // Coalescing: within wake_interval of the last round, hold this commit's
    // wake-ups back and send them with the next round (one write per
    // subscriber for every commit in between instead of one per commit).
    const auto now = std::chrono::steady_clock::now();
    if (options_.wake_interval.count() > 0 &&
        (wake_scheduled_ || now - last_wake_round_ < options_.wake_interval)) {
      if (!wake_scheduled_) {
        wake_scheduled_ = true;
        held_previous_ = previous;
        wake_timer_->expires_at(last_wake_round_ + options_.wake_interval);
        wake_timer_->async_wait([this](const boost::system::error_code& ec) {
          if (!ec) OnWakeTimer();
        });
      }
      for (std::string& t : topics) held_topics_.insert(std::move(t));
      return;
    }
    last_wake_round_ = now;
    CollectWakeLocked(topics, &wake);
  }
  PostWakes(std::move(wake), previous);
}

void Hub::OnWakeTimer() {
  std::vector<std::shared_ptr<Cursor>> wake;
  uint64_t previous = 0;
  {
    std::unique_lock lock(mu_);
    if (stopped_ || !wake_scheduled_) return;
    wake_scheduled_ = false;
    last_wake_round_ = std::chrono::steady_clock::now();
    previous = held_previous_;
    const std::vector<std::string> topics(held_topics_.begin(), held_topics_.end());
    held_topics_.clear();
    CollectWakeLocked(topics, &wake);
  }
  PostWakes(std::move(wake), previous);
}

void Hub::PostWakes(std::vector<std::shared_ptr<Cursor>> wake, uint64_t previous) {
  // One post per cursor would cost a handler allocation made on this
  // (committer) thread and freed on an event-loop thread, for every
  // delivery. Instead, cursors on io_context strands go in chunks: one post
  // per chunk to the io_context, whose handler dispatches into each strand
  // (inline when the strand is free, which is the common case). Chunks let
  // every event-loop thread take a share of a large round.
  using IoStrand = net::strand<net::io_context::executor_type>;
  constexpr size_t kChunk = 64;
  struct Chunk {
    net::io_context::executor_type executor;
    std::vector<std::shared_ptr<Cursor>> cursors;
  };
  std::vector<Chunk> open;  // At most one open chunk per io_context.
  auto flush = [previous](Chunk chunk) {
    net::post(chunk.executor, [cursors = std::move(chunk.cursors), previous]() mutable {
      for (std::shared_ptr<Cursor>& c : cursors) {
        // The strand's own type, not the cursor's type-erased executor: a
        // dispatch through any_io_executor copies it (a shared count) and
        // looks up its properties, per delivery.
        const IoStrand& strand = *c->strand_.target<IoStrand>();
        net::dispatch(strand, [c = std::move(c), previous] { c->OnWake(previous); });
      }
    });
  };
  for (std::shared_ptr<Cursor>& c : wake) {
    const IoStrand* strand = c->strand_.target<IoStrand>();
    if (strand == nullptr) {
      Cursor* cursor = c.get();  // Kept alive by the handler's reference.
      net::post(cursor->strand_, [c = std::move(c), previous] { c->OnWake(previous); });
      continue;
    }
    const net::io_context::executor_type inner = strand->get_inner_executor();
    auto it = std::find_if(open.begin(), open.end(),
                           [&](const Chunk& chunk) { return chunk.executor == inner; });
    if (it == open.end()) {
      open.push_back(Chunk{inner, {}});
      open.back().cursors.reserve(std::min(kChunk, wake.size()));
      it = open.end() - 1;
    }
    it->cursors.push_back(std::move(c));
    if (it->cursors.size() == kChunk) {
      flush(std::move(*it));
      open.erase(it);
    }
  }
  for (Chunk& chunk : open) flush(std::move(chunk));
}

void Hub::CollectWakeLocked(const std::vector<std::string>& topics,
                            std::vector<std::shared_ptr<Cursor>>* wake) {
  // Wake the waiting cursors that have an event on one of `topics`:
  // O(topics + cursors registered on them + wildcard cursors x topics),
  // never a scan of every subscriber. A cursor on several of the topics is
  // woken once (the flag's exchange).
  for (const std::string& topic : topics) {
    auto it = by_topic_.find(topic);
    if (it == by_topic_.end()) continue;
    for (const Slot& slot : it->second) TakeWaitingLocked(slot.cursor, wake);
  }
  for (Cursor* c : wildcard_) {
    if (!c->hub_waiting_.load(std::memory_order_relaxed)) continue;
    for (const std::string& topic : topics) {
      if (c->filter_.Matches(topic)) {
        TakeWaitingLocked(c, wake);
        break;
      }
    }
  }
}

void Hub::TakeWaitingLocked(Cursor* c, std::vector<std::shared_ptr<Cursor>>* out) {
  if (!c->hub_waiting_.exchange(false)) return;
  waiting_count_--;
  // Null when the cursor is being destroyed (its destructor waits on mu_ to
  // leave the registry).
  if (std::shared_ptr<Cursor> alive = c->Pin()) out->push_back(std::move(alive));
}

Hub::Poll Hub::ReadCache(const store::TopicFilter& filter, uint64_t* position,
                         std::vector<EncodedEventPtr>* out, size_t* out_bytes) const {
  std::shared_lock lock(mu_);
  if (*position >= watermark_) return Poll::kCaughtUp;
  if (!cache_valid_ || *position < cache_base_) return Poll::kMiss;
  // Retention, TrimTopic or DeleteTopic may have removed cached events above
  // the position: only the store knows (and reports `trimmed`).
  if (*position < log_->RemovedThrough()) return Poll::kMiss;
  // An event older than the shortest age limit may be past its own: only the
  // store knows (it skips such events and reports `trimmed`).
  const absl::Duration shortest_age = log_->ShortestMaxAge();
  const absl::Time oldest_servable =
      shortest_age == absl::InfiniteDuration() ? absl::InfinitePast() : absl::Now() - shortest_age;
  auto it = std::upper_bound(cache_.begin(), cache_.end(), *position,
                             [](uint64_t p, const EncodedEventPtr& e) { return p < e->event.id; });
  size_t scanned = 0;
  for (; it != cache_.end(); ++it) {
    if (out->size() >= options_.max_batch_events ||
        (!out->empty() && *out_bytes >= options_.max_batch_bytes) ||
        scanned >= options_.max_scan_events) {
      return Poll::kEvents;
    }
    ++scanned;
    const EncodedEventPtr& e = *it;
    if (e->event.publish_time < oldest_servable) {
      return out->empty() && scanned == 1 ? Poll::kMiss : Poll::kEvents;
    }
    if (filter.Matches(e->event.topic)) {
      out->push_back(e);
      *out_bytes += e->frame_bytes;
    }
    *position = e->event.id;
  }
  // Every id up to the watermark has been examined.
  *position = watermark_;
  return Poll::kEvents;
}

Hub::WaitResult Hub::Wait(Cursor* c, uint64_t position) {
  {
    // The common case, a registered cursor: a flag under the shared lock.
    // Commits take the lock exclusively, so a commit either precedes this
    // (position < watermark_: kBehind) or sees the flag.
    std::shared_lock lock(mu_);
    if (stopped_) return WaitResult::kStopped;
    if (position < watermark_) return WaitResult::kBehind;
    if (c->registered_) {
      c->hub_waiting_.store(true);
      waiting_count_++;
      return WaitResult::kWaiting;
    }
  }
  std::unique_lock lock(mu_);
  if (stopped_) return WaitResult::kStopped;
  if (position < watermark_) return WaitResult::kBehind;
  RegisterLocked(c);
  c->hub_waiting_.store(true);
  waiting_count_++;
  return WaitResult::kWaiting;
}

void Hub::Leave(Cursor* c) {
  std::unique_lock lock(mu_);
  UnregisterLocked(c);
}

void Hub::RegisterLocked(Cursor* c) {
  if (c->registered_) return;
  c->topic_slots_.resize(c->exact_.size());
  for (size_t k = 0; k < c->exact_.size(); ++k) {
    std::vector<Slot>& slots = by_topic_[c->exact_topic(k)];
    c->topic_slots_[k] = static_cast<uint32_t>(slots.size());
    slots.push_back(Slot{c, static_cast<uint32_t>(k)});
  }
  if (c->has_wildcard_) {
    c->wildcard_slot_ = wildcard_.size();
    wildcard_.push_back(c);
  }
  c->registered_ = true;
}

void Hub::UnregisterLocked(Cursor* c) {
  if (!c->registered_) return;
  if (c->hub_waiting_.exchange(false)) waiting_count_--;
  for (size_t k = 0; k < c->exact_.size(); ++k) {
    auto it = by_topic_.find(c->exact_topic(k));
    std::vector<Slot>& slots = it->second;
    const uint32_t at = c->topic_slots_[k];
    const Slot last = slots.back();
    slots[at] = last;
    last.cursor->topic_slots_[last.topic_index] = at;
    slots.pop_back();
    if (slots.empty()) by_topic_.erase(it);
  }
  if (c->has_wildcard_) {
    Cursor* last = wildcard_.back();
    wildcard_[c->wildcard_slot_] = last;
    last->wildcard_slot_ = c->wildcard_slot_;
    wildcard_.pop_back();
  }
  c->registered_ = false;
}

// ---------------------------------------------------------------------------

Cursor::Cursor(Hub* hub, const net::any_io_executor& strand, store::TopicFilter filter)
    : hub_(hub), strand_(strand), filter_(std::move(filter)) {
  const std::vector<store::TopicPattern>& patterns = filter_.patterns();
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (!patterns[i].IsExact()) {
      has_wildcard_ = true;
      continue;
    }
    const bool seen = std::any_of(exact_.begin(), exact_.end(),
                                  [&](uint32_t k) { return patterns[k].str() == patterns[i].str(); });
    if (!seen) exact_.push_back(static_cast<uint32_t>(i));
  }
}

std::shared_ptr<Cursor> Cursor::Make(Hub* hub, net::any_io_executor strand,
                                     store::TopicFilter filter, Hub::Start start) {
  struct Owned {
    Owned(Hub* hub, net::any_io_executor s, store::TopicFilter filter)
        : strand(std::move(s)), cursor(hub, strand, std::move(filter)) {}
    const net::any_io_executor strand;
    Cursor cursor;
  };
  auto owned = std::make_shared<Owned>(hub, std::move(strand), std::move(filter));
  owned->cursor.Open(owned, std::move(start));
  return std::shared_ptr<Cursor>(owned, &owned->cursor);
}

void Cursor::Open(std::weak_ptr<void> owner, Hub::Start start) {
  owner_ = std::move(owner);
  position_ = start.position;
  if (start.reset) pending_reset_ = std::make_unique<Reset>(*start.reset);
  live_at_ = start.live_at;
  notify_live_ = start.notify_live;
}

std::shared_ptr<Cursor> Cursor::Pin() {
  std::shared_ptr<void> owner = owner_.lock();
  if (!owner) return nullptr;
  return std::shared_ptr<Cursor>(std::move(owner), this);
}

Cursor::~Cursor() {
  // registered_ is written only by this cursor's own calls, all of which
  // happened before its last reference went away.
  if (registered_) hub_->Leave(this);
}

void Cursor::Next(Callback done) {
  if (closed_) return;
  pending_ = std::move(done);
  Pump();
}

void Cursor::Close() {
  if (closed_) return;
  closed_ = true;
  pending_ = nullptr;
  waiting_ = false;
  if (registered_) hub_->Leave(this);
}

void Cursor::Deliver(Batch batch, bool direct) {
  Callback cb = std::move(pending_);
  pending_ = nullptr;
  if (direct) {
    // Already in a handler of our own on the strand: Next's caller is not on
    // the stack, so the callback may run now (saves a post per wake-up).
    cb(std::move(batch));
    return;
  }
  std::shared_ptr<Cursor> self = Pin();
  if (!self) return;  // The owner is going away: nobody is left to call.
  net::post(strand_, [self = std::move(self), cb = std::move(cb),
                      batch = std::move(batch)]() mutable {
    if (!self->closed_) cb(std::move(batch));
  });
}

void Cursor::TakeReset(Batch* batch) {
  if (!pending_reset_) return;
  batch->reset = *pending_reset_;
  pending_reset_.reset();
}

void Cursor::TakeLive(Batch* batch) {
  if (!LiveDue()) return;
  notify_live_ = false;
  batch->live = true;
  batch->live_at = live_at_;
}

void Cursor::Pump(bool direct) {
  while (!closed_ && pending_ && !waiting_ && !reading_) {
    Batch batch;
    const Hub::Poll poll = hub_->ReadCache(filter_, &position_, &batch.events, &batch.bytes);
    if (poll == Hub::Poll::kMiss) return StartStoreRead();
    if (!batch.events.empty() || pending_reset_ || LiveDue()) {
      TakeReset(&batch);
      TakeLive(&batch);
      return Deliver(std::move(batch), direct);
    }
    if (poll == Hub::Poll::kEvents && position_ < hub_->watermark()) {
      // Scan limit reached on a sparse filter: yield the strand, continue later.
      if (std::shared_ptr<Cursor> self = Pin()) {
        net::post(strand_, [self = std::move(self)] { self->Pump(); });
      }
      return;
    }
    switch (hub_->Wait(this, position_)) {
      case Hub::WaitResult::kWaiting:
        waiting_ = true;
        return;
      case Hub::WaitResult::kStopped:
        batch.status = absl::UnavailableError("server is shutting down");
        return Deliver(std::move(batch));
      case Hub::WaitResult::kBehind:
        break;  // New events arrived meanwhile: look again.
    }
  }
}

void Cursor::OnWake(uint64_t previous_watermark) {
  if (!waiting_) return;  // Closed (and unregistered) meanwhile.
  waiting_ = false;
  // Registered while position_ >= the watermark, and not woken by any commit
  // up to previous_watermark: nothing in (position_, previous_watermark]
  // matches, so skip it instead of rescanning (it may have left the cache).
  position_ = std::max(position_, previous_watermark);
  Pump(/*direct=*/true);
}

void Cursor::OnStopped() {
  waiting_ = false;
  if (closed_ || !pending_) return;
  Batch batch;
  batch.status = absl::UnavailableError("server is shutting down");
  Deliver(std::move(batch));
}

void Cursor::StartStoreRead() {
  reading_ = true;
  store::ReadRequest request;
  request.filter = filter_;
  request.after_id = position_;
  request.up_to_id = hub_->watermark();
  request.max_events = hub_->options().max_batch_events;
  request.max_bytes = hub_->options().max_batch_bytes;
  Hub* hub = hub_;
  std::shared_ptr<Cursor> self = Pin();
  if (!self) return;  // The owner is going away.
  const bool queued = hub_->RunOnStore([self = std::move(self), hub, request] {
    absl::StatusOr<store::ReadResult> result = hub->log()->Read(request);
    std::vector<EncodedEventPtr> encoded;
    size_t bytes = 0;
    if (result.ok()) {
      encoded.reserve(result->events.size());
      for (store::Event& e : result->events) {
        encoded.push_back(hub->encoder().Encode(std::move(e)));
        bytes += encoded.back()->frame_bytes;
      }
      result->events.clear();
    }
    net::post(self->strand_, [self, requested = request.after_id, result = std::move(result),
                              encoded = std::move(encoded), bytes]() mutable {
      self->OnStoreRead(requested, std::move(result), std::move(encoded), bytes);
    });
  });
  if (!queued) {
    reading_ = false;
    Batch batch;
    batch.status = absl::UnavailableError("server is shutting down");
    Deliver(std::move(batch));
  }
}

void Cursor::OnStoreRead(uint64_t requested, absl::StatusOr<store::ReadResult> result,
                         std::vector<EncodedEventPtr> encoded, size_t bytes) {
  reading_ = false;
  if (closed_ || !pending_) return;
  if (!result.ok()) {
    // Every cursor behind the cache fails alike while the store is down.
    static LogThrottle throttle(absl::Seconds(10));
    if (uint64_t held = 0; throttle.Admit(&held)) {
      TG_LOG(WARNING) << "store read after id " << requested << ": " << result.status().ToString()
                      << Held(held);
    }
    Batch batch;
    batch.status = result.status();
    return Deliver(std::move(batch));
  }
  if (result->trimmed) {
    // Retention removed part of what this cursor still had to deliver.
    const uint64_t resume = encoded.empty() ? std::max(requested, result->next_after_id)
                                            : encoded.front()->event.id - 1;
    pending_reset_ = std::make_unique<Reset>(Reset{Reset::Reason::kTrimmed, requested, resume});
  }
  position_ = std::max(position_, result->next_after_id);
  if (!encoded.empty()) position_ = std::max(position_, encoded.back()->event.id);
  if (!encoded.empty() || pending_reset_ || LiveDue()) {
    Batch batch;
    TakeReset(&batch);
    TakeLive(&batch);
    batch.events = std::move(encoded);
    batch.bytes = bytes;
    batch.from_store = true;
    return Deliver(std::move(batch));
  }
  Pump();
}

}  // namespace tailgate

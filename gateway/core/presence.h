// The registry of open subscription streams (SSE, gRPC Subscribe; any
// later transport registers the same way): who is connected, to what, where
// each stream is, and a way to end it (admin ListStreams, CountSubscribers,
// Revoke; the opt-in subscriber gauges on /metrics).
//
// A stream registers once it is accepted, into a Registration that is part
// of the stream's own object (an idle stream costs the registry no
// allocation), and unregisters when that Registration is Reset or
// destroyed. The stream reports its position (the last id it delivered)
// with Registration::set_position, a relaxed atomic store, from its own
// thread.
//
// Ending a stream: the registry pins the stream's `owner` (a weak_ptr to
// the object that holds the Registration) and calls `end(owner, reason)`
// from any thread (an admin handler), at most once per Revoke that matches
// the stream, never once the Registration is Reset or the owner is gone.
// `end` must only post to the stream's own strand or thread and return,
// never block nor touch the stream's state directly.
//
// Revocations (gateway/auth/revocations.h) are checked by Register after the
// stream is visible, and Revoke adds the revocation before it scans the
// streams: a stream registering concurrently with a Revoke either sees the
// revocation (Register refuses it) or is seen by the scan (and ended), never
// neither.
//
// Ownership and lifetime: the registry's state is shared with every
// Registration, so either may go first: a Registration outliving the
// StreamRegistry (a session torn down after the Gateway) is harmless. A
// Registration's patterns (the stream's filter's) must outlive it; the
// RevocationList must outlive the registry.
//
// Thread-safety: every method is thread-safe. Register/unregister and set_position
// are cheap (a short mutex; an atomic) and fit for event loops; List and
// the counts copy under the mutex, O(open streams).
#ifndef TAILGATE_GATEWAY_CORE_PRESENCE_H_
#define TAILGATE_GATEWAY_CORE_PRESENCE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/intrusive/list_hook.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/auth/revocations.h"
#include "store/topic.h"

namespace tailgate {

// What a stream registers with (besides its patterns).
struct StreamInfo {
  std::string subject;  // The token's `sub`; empty without auth.
  std::string_view protocol;  // A string literal: "sse", "grpc".
  std::string remote;    // Peer address when known, else empty.
  absl::Time opened_at = absl::InfinitePast();
};

struct StreamSnapshot {
  uint64_t id = 0;  // Unique in this process.
  StreamInfo info;
  std::vector<store::TopicPattern> patterns;
  uint64_t position = 0;  // Last id delivered (or the start position).
};

class StreamRegistry {
 public:
  // Ends the stream whose owner is `owner` (pinned for the call); the status
  // says why (UNAUTHENTICATED for a revoked subject, PERMISSION_DENIED for a
  // revoked pattern). Only posts (see above).
  using EndFn = void (*)(const std::shared_ptr<void>& owner, const absl::Status& reason);

 private:
  struct State;

 public:
  // One stream's entry, embedded in the stream's object. Not copyable nor
  // movable (the registry links to it); used from the stream's thread.
  class Registration {
   public:
    Registration() = default;
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration() { Reset(); }

    // The last id the stream delivered. Any thread; relaxed.
    void set_position(uint64_t id) { position_.store(id, std::memory_order_relaxed); }
    // Unregisters now (also done by the destructor). Idempotent.
    void Reset();
    explicit operator bool() const { return state_ != nullptr; }

   private:
    friend class StreamRegistry;
    std::shared_ptr<State> state_;  // Set while registered.
    // In the registry's list, oldest first; guarded by State::mu.
    boost::intrusive::list_member_hook<> link_;
    uint64_t id_ = 0;
    std::atomic<uint64_t> position_{0};
    StreamInfo info_;
    const std::vector<store::TopicPattern>* patterns_ = nullptr;
    std::weak_ptr<void> owner_;
    EndFn end_ = nullptr;
    bool gone_ = false;  // Guarded by State::end_mu.
  };

  // `revocations` may be null (nothing is ever refused or ended by it).
  explicit StreamRegistry(const RevocationList* revocations);
  ~StreamRegistry();

  // The revocation status of a would-be stream, without registering: the
  // subject's (UNAUTHENTICATED) and the patterns' (PERMISSION_DENIED). For a
  // transport to refuse properly before it commits to a response.
  absl::Status Admit(const std::string& subject,
                     const std::vector<store::TopicPattern>& patterns) const;

  // Registers a stream starting at `position` into `*into` (not registered
  // yet), with its `patterns` (which must outlive the registration), its
  // `owner` (what holds `*into`) and `end`. The revocation status (as
  // Admit) when refused: `*into` is then unregistered again and the stream
  // must end without serving.
  absl::Status Register(Registration* into, StreamInfo info,
                        const std::vector<store::TopicPattern>* patterns, uint64_t position,
                        std::weak_ptr<void> owner, EndFn end);

  // Open streams, oldest first. Filters (empty: no filter): exactly this
  // subject; a pattern covering at least one of the stream's patterns.
  std::vector<StreamSnapshot> List(const std::string& subject,
                                   const store::TopicPattern* covering) const;

  // Subscribers per subscription pattern (a stream with two patterns counts
  // once for each), sorted by pattern; only patterns covered by `covering`
  // when non-null.
  std::map<std::string, uint64_t> CountByPattern(const store::TopicPattern* covering) const;

  // Calls `end` of every stream of `subject` / with a pattern covered by
  // `pattern`, outside the registry's mutex. Returns how many.
  size_t EndSubject(const std::string& subject, const absl::Status& reason);
  size_t EndCovered(const store::TopicPattern& pattern, const absl::Status& reason);

  size_t size() const;

 private:
  size_t EndMatching(const std::function<bool(const Registration&)>& match,
                     const absl::Status& reason);

  const RevocationList* const revocations_;
  std::shared_ptr<State> state_;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CORE_PRESENCE_H_

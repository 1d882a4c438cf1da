// The registry of open subscription streams (SSE, gRPC Subscribe; any
// later transport registers the same way): who is connected, to what, where
// each stream is, and a way to end it (admin ListStreams, CountSubscribers,
// Revoke; the opt-in subscriber gauges on /metrics).
//
// A stream registers once it is accepted and keeps the Registration for its
// life; destroying the Registration unregisters it. The stream reports its
// position (the last id it delivered) with Registration::set_position, a
// relaxed atomic store, from its own thread. `end` is called from any
// thread (an admin handler) at most once per Revoke that matches the stream;
// it must only post to the stream's own strand or thread and return, never
// block nor touch the stream's state directly, and must tolerate being
// called after the stream ended (capture a weak_ptr).
//
// Revocations (gateway/auth/revocations.h) are checked by Register after the
// stream is visible, and Revoke adds the revocation before it scans the
// streams: a stream registering concurrently with a Revoke either sees the
// revocation (Register refuses it) or is seen by the scan (and ended), never
// neither.
//
// Ownership and lifetime: the registry's state is shared with every
// Registration, so either may go first: a Registration outliving the
// StreamRegistry (a session torn down after the Gateway) is harmless. The
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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/auth/revocations.h"
#include "store/topic.h"

namespace tailgate {

// What a stream registers with.
struct StreamInfo {
  std::string subject;  // The token's `sub`; empty without auth.
  std::vector<store::TopicPattern> patterns;
  std::string_view protocol;  // A string literal: "sse", "grpc".
  std::string remote;    // Peer address when known, else empty.
  absl::Time opened_at = absl::InfinitePast();
};

struct StreamSnapshot {
  uint64_t id = 0;  // Unique in this process.
  StreamInfo info;
  uint64_t position = 0;  // Last id delivered (or the start position).
};

class StreamRegistry {
 public:
  // Ends the stream; the status says why (UNAUTHENTICATED for a revoked
  // subject, PERMISSION_DENIED for a revoked pattern).
  using EndFn = std::function<void(const absl::Status& reason)>;

 private:
  struct Entry;
  struct State;

 public:
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&&) noexcept = default;
    Registration& operator=(Registration&& other) noexcept;
    ~Registration() { Reset(); }

    // The last id the stream delivered. Any thread; relaxed.
    void set_position(uint64_t id);
    // Unregisters now (also done by the destructor).
    void Reset();
    explicit operator bool() const { return entry_ != nullptr; }

   private:
    friend class StreamRegistry;
    std::shared_ptr<State> state_;
    std::shared_ptr<Entry> entry_;
  };

  // `revocations` may be null (nothing is ever refused or ended by it).
  explicit StreamRegistry(const RevocationList* revocations);
  ~StreamRegistry();

  // The revocation status of a would-be stream, without registering: the
  // subject's (UNAUTHENTICATED) and the patterns' (PERMISSION_DENIED). For a
  // transport to refuse properly before it commits to a response.
  absl::Status Admit(const std::string& subject,
                     const std::vector<store::TopicPattern>& patterns) const;

  // Registers a stream starting at `position`. The revocation status (as
  // Admit) when refused; the stream must then end without serving.
  absl::StatusOr<Registration> Register(StreamInfo info, uint64_t position, EndFn end);

  // Open streams, oldest first. Filters (empty: no filter): exactly this
  // subject; a pattern covering at least one of the stream's patterns.
  std::vector<StreamSnapshot> List(const std::string& subject,
                                   const store::TopicPattern* covering) const;

  // Subscribers per subscription pattern (a stream with two patterns counts
  // once for each), sorted by pattern; only patterns covered by `covering`
  // when non-null.
  std::map<std::string, uint64_t> CountByPattern(const store::TopicPattern* covering) const;

  // Calls `end(reason)` of every stream of `subject` / with a pattern covered
  // by `pattern`, outside the registry's mutex. Returns how many.
  size_t EndSubject(const std::string& subject, const absl::Status& reason);
  size_t EndCovered(const store::TopicPattern& pattern, const absl::Status& reason);

  size_t size() const;

 private:
  size_t EndMatching(const std::function<bool(const Entry&)>& match, const absl::Status& reason);

  const RevocationList* const revocations_;
  std::shared_ptr<State> state_;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CORE_PRESENCE_H_

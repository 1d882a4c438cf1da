// Internal to gateway/http: the server's count of open connections, its
// silent ones and the drain hooks of ConnectionSlots. HttpServer owns one
// Tracker, shared with every connection it serves (and with the h2 fuzzer,
// which builds slots of its own).
//
// Thread-safety: every field is guarded by `mu`; the static functions lock
// it themselves except where their name ends in Locked.
#ifndef TAILGATE_GATEWAY_HTTP_CONNECTION_TRACKER_H_
#define TAILGATE_GATEWAY_HTTP_CONNECTION_TRACKER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <boost/intrusive/list.hpp>

#include "gateway/http/http_server.h"

namespace tailgate {

// std::mutex, not absl::Mutex: visible to ThreadSanitizer with Debian's Abseil.
struct ConnectionSlot::Tracker {
  std::mutex mu;
  std::condition_variable idle;  // Signalled when `open` or `async_pending` drops to 0.
  int open = 0;
  // Asynchronous responses not yet sent or dropped (HttpRespond copies alive).
  int async_pending = 0;
  bool draining = false;
  // Slots with a drain hook.
  boost::intrusive::list<ConnectionSlot,
                         boost::intrusive::member_hook<ConnectionSlot,
                                                       boost::intrusive::list_member_hook<>,
                                                       &ConnectionSlot::drain_link_>>
      hooked;

  // Silent connections (accepted, no byte yet): id -> close hook, oldest
  // first. Not counted in `open`.
  std::map<uint64_t, std::function<void()>> silent;
  uint64_t next_silent_id = 1;

  // Registers a silent connection whose `close` hook ends it (it should post
  // to the connection's strand). When `max` are already silent (max <= 0: no
  // limit), the oldest is closed to make room: an accepted connection always
  // gets its chance to speak. While draining, `close` runs at once and 0 is
  // returned.
  static uint64_t AddSilent(const std::shared_ptr<Tracker>& t, int max,
                            std::function<void()> close);

  // The connection spoke or ended: no longer silent.
  static void RemoveSilent(const std::shared_ptr<Tracker>& t, uint64_t id);

  // A slot unless `max` connections are open (max <= 0: no limit).
  static std::shared_ptr<ConnectionSlot> TryAcquire(const std::shared_ptr<Tracker>& t, int max);

  // mu held. Empties the list of hooked slots into *out, with each owner
  // that is still there pinned.
  static void TakeHooksLocked(
      Tracker* t, std::vector<std::pair<std::shared_ptr<void>, ConnectionSlot::DrainFn>>* out);
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_HTTP_CONNECTION_TRACKER_H_

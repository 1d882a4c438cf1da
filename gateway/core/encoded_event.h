// A committed event as the hub shares it: built once per event, read-only
// afterwards, and handed to every subscriber by pointer (never copied per
// subscriber). A transport with a wire format registers an EventEncoder
// whose events carry that format's frame pre-encoded (gateway/sse/frame.h);
// the core sees only the event and the frame's size.
//
// Thread-safety: an EncodedEvent is immutable once built; an EventEncoder
// is called concurrently (commit listener, store threads).
#ifndef TAILGATE_GATEWAY_CORE_ENCODED_EVENT_H_
#define TAILGATE_GATEWAY_CORE_ENCODED_EVENT_H_

#include <cstddef>
#include <memory>

#include "store/log.h"

namespace tailgate {

struct EncodedEvent {
  virtual ~EncodedEvent() = default;
  // What the tail cache counts against its byte bound.
  virtual size_t MemoryBytes() const;

  store::Event event;
  // Bytes one delivery of the event writes (batch byte bounds, metrics).
  size_t frame_bytes = 0;
};
using EncodedEventPtr = std::shared_ptr<const EncodedEvent>;

class EventEncoder {
 public:
  virtual ~EventEncoder() = default;
  // The shared form of `event`: one allocation, whatever the subscribers.
  virtual EncodedEventPtr Encode(store::Event event) const = 0;
};

// No wire frame: frame_bytes is the event's data size. For hubs without an
// SSE endpoint (gRPC only, tests).
const EventEncoder& PlainEventEncoder();

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CORE_ENCODED_EVENT_H_

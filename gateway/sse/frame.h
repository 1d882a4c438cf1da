// The SSE frame of a committed event, encoded once by the hub (through
// SseEventEncoder) and shared read-only by every SSE subscriber.
//
// Thread-safety: immutable once built, but for the meta lines, which the
// first subscriber that needs them builds (safely, once). SseEventEncoder()
// is thread-safe.
#ifndef TAILGATE_GATEWAY_SSE_FRAME_H_
#define TAILGATE_GATEWAY_SSE_FRAME_H_

#include <cstddef>
#include <string>

#include "absl/base/call_once.h"
#include "gateway/core/encoded_event.h"

namespace tailgate {

// The frame of single-line data is `head` + event.data + "\n\n" (the data is
// not copied again); other frames are all in `head`. meta() ("topic:
// T\ntime: RFC3339\n") goes in after the id/event lines, at
// head[fields_end], for subscribers that asked for it (?meta=1):
// EventSource ignores unknown field names, fetch-based clients read them.
// It is built by the first such subscriber, not at commit: most events never
// need it. frame_bytes is the frame's size without meta.
struct SseEvent : EncodedEvent {
  std::string head;      // "id: N\n[event: T\n]data: " or the whole frame.
  size_t fields_end = 0; // head[0, fields_end) is the id: and event: lines.
  bool whole = false;    // `head` is the whole frame.

  const std::string& meta() const;
  // Counts the meta lines whether built or not: the hub's cache adds and
  // subtracts the same figure.
  size_t MemoryBytes() const override;
  size_t FrameBytes(bool with_meta) const { return frame_bytes + (with_meta ? meta().size() : 0); }
  // Appends the frame's buffers (1 to 5) to `out`.
  template <typename BufferVector, typename MakeBuffer>
  void AppendFrame(BufferVector* out, MakeBuffer make, bool with_meta = false) const {
    if (with_meta) {
      const std::string& m = meta();
      out->push_back(make(head.data(), fields_end));
      out->push_back(make(m.data(), m.size()));
      out->push_back(make(head.data() + fields_end, head.size() - fields_end));
    } else {
      out->push_back(make(head.data(), head.size()));
    }
    if (whole) return;
    if (!event.data.empty()) out->push_back(make(event.data.data(), event.data.size()));
    out->push_back(make("\n\n", 2));
  }
  std::string Frame(bool with_meta = false) const;  // As one string (tests, logs).

 private:
  mutable absl::once_flag meta_once_;
  mutable std::string meta_;  // Once meta_once_ ran.
};

// The hub's encoder for a gateway that serves SSE (HubOptions::encoder):
// every event it shares is an SseEvent.
const EventEncoder& SseEventEncoder();

// The SSE form of an event the hub shares. The hub must use
// SseEventEncoder() (SseService checks that once, at construction).
inline const SseEvent& AsSse(const EncodedEvent& e) { return static_cast<const SseEvent&>(e); }

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SSE_FRAME_H_

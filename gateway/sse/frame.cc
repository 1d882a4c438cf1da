#include "gateway/sse/frame.h"

#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gateway/sse/codec.h"

namespace tailgate {

const std::string& SseEvent::meta() const {
  absl::call_once(meta_once_, [this] {
    meta_ = absl::StrCat("topic: ", event.topic, "\ntime: ",
                         absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", event.publish_time,
                                          absl::UTCTimeZone()),
                         "\n");
  });
  return meta_;
}

size_t SseEvent::MemoryBytes() const {
  // The meta lines: "topic: " + topic + "\ntime: " + 27 + "\n", on the heap.
  const size_t meta_bytes = event.topic.size() + 42 + 16;
  return sizeof(SseEvent) + event.topic.capacity() + event.type.capacity() +
         event.data.capacity() + head.capacity() + meta_bytes;
}

std::string SseEvent::Frame(bool with_meta) const {
  std::string out = head;
  if (with_meta) out.insert(fields_end, meta());
  if (whole) return out;
  return out + event.data + "\n\n";
}

namespace {

class Encoder : public EventEncoder {
 public:
  EncodedEventPtr Encode(store::Event event) const override {
    auto out = std::make_shared<SseEvent>();
    // Two vectorised scans; find_first_of("\r\n") calls memchr once per byte.
    const std::string& d = event.data;
    if (std::memchr(d.data(), '\n', d.size()) == nullptr &&
        std::memchr(d.data(), '\r', d.size()) == nullptr) {
      // The common case: the frame's data line is the event's data itself.
      out->head = absl::StrCat("id: ", event.id, "\n");
      if (!event.type.empty()) absl::StrAppend(&out->head, "event: ", event.type, "\n");
      out->head += "data: ";
      out->frame_bytes = out->head.size() + event.data.size() + 2;
    } else {
      out->head = EncodeSseFrame(event.id, event.type, event.data);
      out->whole = true;
      out->frame_bytes = out->head.size();
    }
    // The id: and event: lines end where the first data: line starts.
    out->fields_end = out->head.find("\ndata: ") + 1;
    out->event = std::move(event);
    return out;
  }
};

}  // namespace

const EventEncoder& SseEventEncoder() {
  static const Encoder* const encoder = new Encoder();
  return *encoder;
}

}  // namespace tailgate

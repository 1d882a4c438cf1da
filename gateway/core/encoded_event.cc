#include "gateway/core/encoded_event.h"

#include <utility>

namespace tailgate {

size_t EncodedEvent::MemoryBytes() const {
  return sizeof(EncodedEvent) + event.topic.capacity() + event.type.capacity() +
         event.data.capacity();
}

namespace {

class PlainEncoder : public EventEncoder {
 public:
  EncodedEventPtr Encode(store::Event event) const override {
    auto out = std::make_shared<EncodedEvent>();
    out->frame_bytes = event.data.size();
    out->event = std::move(event);
    return out;
  }
};

}  // namespace

const EventEncoder& PlainEventEncoder() {
  static const PlainEncoder* const encoder = new PlainEncoder();
  return *encoder;
}

}  // namespace tailgate

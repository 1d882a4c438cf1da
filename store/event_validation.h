// The one validation of an event's fields, shared by every publish path of
// the gateway (gRPC Publish/PublishBatch/PublishStream, POST /v1/publish) and
// by the logs' own append checks, so one event gets one answer wherever it
// enters.
//
// Fields are checked in a fixed order, the cheap bounded ones first and the
// data scan last: topic, type, idempotency_key, data. The first bad field
// decides the error; its message names the field ("topic: ...") and, for an
// event in a list, its place ("events[3].topic: ...").
//
// Thread-safety: pure functions.
#ifndef TAILGATE_STORE_EVENT_VALIDATION_H_
#define TAILGATE_STORE_EVENT_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace tailgate::store {

// The fields of one event as the caller holds them (a protobuf request, a
// parsed JSON body, a store::EventInput): views, so checking copies nothing.
struct EventFields {
  std::string_view topic;
  std::string_view type;
  std::string_view data;
  std::string_view idempotency_key;
};

// INVALID_ARGUMENT for a grammar violation (store/topic.h; data that is not
// UTF-8 or holds a NUL included), RESOURCE_EXHAUSTED for data over
// max_data_bytes. With a `list` name the fields are named by the event's
// place in it: list "events", index 3 gives "events[3].topic: ...".
absl::Status ValidateEvent(const EventFields& event, size_t max_data_bytes,
                           std::string_view list = "", uint64_t index = 0);

}  // namespace tailgate::store

#endif  // TAILGATE_STORE_EVENT_VALIDATION_H_

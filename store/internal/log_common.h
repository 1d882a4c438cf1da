// The checks every Log implementation makes the same way: each append's
// events before anything is stored (retention options: retention.h). One
// definition (store/log.cc) keeps the RocksDB and JetStream logs from
// drifting apart in what they accept and how their errors name fields.
//
// For Log implementations only; the rest of tailgate includes store/log.h.
#ifndef TAILGATE_STORE_INTERNAL_LOG_COMMON_H_
#define TAILGATE_STORE_INTERNAL_LOG_COMMON_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "store/log.h"
#include "store/topic.h"

namespace tailgate::store::internal {

// How errors name field `name` of events[index] of an append of `count`
// events: "data" alone, "events[2].data" in a batch (the Publisher service
// names batch fields the same way).
std::string EventField(size_t count, size_t index, std::string_view name);

// The checks Log::AppendAsync promises before anything is stored: at least
// one event, and every event's topic, type, data (at most max_data_bytes)
// and idempotency key valid. The first bad field fails the whole append
// (INVALID_ARGUMENT, or RESOURCE_EXHAUSTED for oversized data).
absl::Status ValidateAppend(absl::Span<const EventInput> events, size_t max_data_bytes);

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_INTERNAL_LOG_COMMON_H_

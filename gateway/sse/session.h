// One SSE stream, over HTTP/1.1 (a whole connection, chunked) or HTTP/2 (one
// stream, through its StreamSink): the SSE wire of a Subscription
// (gateway/core/subscription.h), which decides what is written when and how
// the stream ends. The session writes the response head with its first
// write, then one gathered write at a time: the hub's shared frames, the
// reset and caught-up events, heartbeats, the token-expired notice, and the
// refusals that can only be known after the start (a storage error, a
// revocation that raced the request).
//
// Thread-safety: StartSseSession runs on the connection's strand (HTTP/1.1)
// or the sink's executor (HTTP/2), where the session then lives. Ownership:
// the session holds itself (shared) while anything is pending; the hub,
// config and metrics must outlive it.
#ifndef TAILGATE_GATEWAY_SSE_SESSION_H_
#define TAILGATE_GATEWAY_SSE_SESSION_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "gateway/config.h"
#include "gateway/core/hub.h"
#include "gateway/core/subscription.h"
#include "gateway/diag/ops_metrics.h"
#include "gateway/http/http_server.h"
#include "gateway/http/http_stream.h"
#include "gateway/http/stream_sink.h"
#include "store/topic.h"

namespace tailgate {

// What a stream is started with (all decided by the request).
struct SseStream {
  Hub* hub = nullptr;
  const SseConfig* config = nullptr;
  std::shared_ptr<std::atomic<int>> active;  // The service's count of open streams.
  SseMetrics* metrics = nullptr;             // Null: none.
  std::string head;      // The response head (HTTP/1.1 form), sent with the first write.
  bool chunked = false;  // Chunked framing (HTTP/1.1 keep-alive; never over HTTP/2).
  store::TopicFilter filter;
  SubscriptionOptions options;
  bool meta = false;  // ?meta=1: frames with topic: and time: fields.
};

// Starts a stream on `stream` + `slot` (HTTP/1.1) or on `sink` (HTTP/2).
void StartSseSession(std::optional<HttpStream> stream, std::shared_ptr<ConnectionSlot> slot,
                     std::shared_ptr<StreamSink> sink, SseStream params);

// The whole body of a stream that cannot be served now (full, draining, the
// store unavailable): a `retry:` of `retry` plus up to half of it again at
// random, and a comment saying `why` (printable ASCII only).
std::string RetryLaterBody(std::string_view why, absl::Duration retry);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_SSE_SESSION_H_

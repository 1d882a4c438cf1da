// The gateway's configuration: parsed from flags in main.cc and passed down.
// Libraries read only this struct, never flags or globals.
#ifndef TAILGATE_GATEWAY_CONFIG_H_
#define TAILGATE_GATEWAY_CONFIG_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "store/log.h"

namespace tailgate {

struct HttpConfig {
  std::string listen = "127.0.0.1:8080";
  int threads = 0;  // 0 = one per core.
  size_t max_header_bytes = 16 * 1024;
  absl::Duration header_timeout = absl::Seconds(10);
  // Open HTTP connections (SSE streams included); more get 503 + Retry-After.
  int max_connections = 10000;
  // Retry-After on a 503 (full or draining).
  absl::Duration retry_after = absl::Seconds(5);
};

// The SSE endpoint and the fan-out hub behind it (gateway/sse_service.h,
// gateway/hub.h); the gRPC Subscriber shares the hub.
struct SseConfig {
  // "retry:" sent once at the start of each stream (EventSource reconnect delay).
  absl::Duration retry = absl::Seconds(3);
  // A comment line on an idle stream this often (keeps proxies from timing out).
  absl::Duration heartbeat = absl::Seconds(15);
  // Allowed CORS origins: exact origins, or "*" for any. Empty: no CORS headers.
  std::vector<std::string> cors_origins;
  // Access-Control-Allow-Credentials: true (the origin is echoed, never "*").
  bool cors_credentials = false;
  // A write not completing within this drops the peer.
  absl::Duration write_timeout = absl::Seconds(30);
  // In-memory tail cache of encoded frames.
  size_t tail_cache_events = 100'000;
  size_t tail_cache_bytes = size_t{64} << 20;
  // Threads for store reads of subscribers behind the tail cache.
  int store_threads = 4;
  // Patterns one subscription may carry.
  size_t max_topics = 16;
};

struct GrpcConfig {
  std::string listen = "127.0.0.1:50051";
};

// Limits of the Publisher service (gateway/publisher_service.h).
struct PublishConfig {
  // Events in one PublishBatch (more: RESOURCE_EXHAUSTED).
  size_t max_batch_events = 1000;
  // Acks a PublishStream may have outstanding; reading pauses at this many.
  size_t max_inflight_per_stream = 1024;
  // Largest `data` of one event (more: RESOURCE_EXHAUSTED). The log's
  // store.max_data_bytes follows it.
  size_t max_data_bytes = store::kDefaultMaxDataBytes;
  // Largest request message (a whole PublishBatch) the gRPC server accepts;
  // raised to fit one event of max_data_bytes when smaller.
  size_t max_request_bytes = size_t{64} << 20;
};

struct Config {
  HttpConfig http;
  GrpcConfig grpc;
  PublishConfig publish;
  SseConfig sse;
  store::Options store;  // store.data_dir is --data_dir.
  // Upper bound on a graceful shutdown before connections are cut.
  absl::Duration drain_timeout = absl::Seconds(10);
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CONFIG_H_

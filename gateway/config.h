// The gateway's configuration: made from flags by gateway/server/config.h (the
// binary) or filled in by tests, and passed down.
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
  // Open HTTP connections (SSE streams included); more get 503 + Retry-After
  // (an SSE request: a 200 stream that only says `retry:`). A connection
  // counts from its first byte: see max_silent_connections.
  int max_connections = 10000;
  // Accepted connections that have not sent a byte yet, counted apart from
  // max_connections so that silent sockets cannot lock real clients out; at
  // this many the oldest silent one is closed to admit the next. 0: the same
  // as max_connections.
  int max_silent_connections = 0;
  // Retry-After on a 503 (full or draining).
  absl::Duration retry_after = absl::Seconds(5);
  // TLS: PEM certificate chain and private key files; both empty = plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  // HTTP/2 on the same port (gateway/http/h2_session.h): h2c with prior knowledge, and
  // "h2" offered by TLS ALPN. Off: HTTP/1.1 only.
  bool http2 = true;
  // SETTINGS_MAX_CONCURRENT_STREAMS advertised on each HTTP/2 connection.
  int http2_max_streams = 100;
  // RST_STREAM frames a client may send on one HTTP/2 connection in a
  // second; past it the connection ends with GOAWAY ENHANCE_YOUR_CALM (the
  // "rapid reset" attack opens and cancels streams to make the server work
  // without ever counting against MAX_CONCURRENT_STREAMS).
  int http2_max_resets_per_second = 200;
  // An HTTP/2 socket write not completing within this drops the connection
  // (the same as --write_timeout for an HTTP/1.1 stream).
  absl::Duration write_timeout = absl::Seconds(30);
};

// The SSE endpoint and the fan-out hub behind it (gateway/sse/service.h,
// gateway/core/hub.h); the gRPC Subscriber shares the hub.
struct SseConfig {
  // "retry:" sent once at the start of each stream (EventSource reconnect delay).
  absl::Duration retry = absl::Seconds(3);
  // The back-off an EventSource gets, as `retry:` in a 200 stream that ends
  // at once, when the server is full, draining or the store cannot answer
  // (a 503 would leave a browser's EventSource CLOSED for good). Up to half
  // of it again is added at random so refused clients do not return at once.
  absl::Duration busy_retry = absl::Seconds(5);
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
  // TLS: PEM certificate chain and private key files; both empty = plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  // With TLS: PEM CA bundle; when set, clients must present a certificate
  // it verifies (mutual TLS), others are refused in the handshake.
  std::string tls_client_ca_file;
};

// JWT authentication (gateway/auth/verifier.h). The verifier fields are the key
// material itself, not file names (gateway/server/config.cc reads the files).
struct AuthConfig {
  // Require a token for SSE / Subscribe (subscribe grants), for Publish*
  // (publish grants). When either is on, Admin needs a token with admin: true.
  bool subscribe_required = false;
  bool publish_required = false;
  // Allow-list of JWS algorithms: any of HS256 HS384 HS512 RS256 RS384 RS512
  // ES256 ES384 ES512. Every listed algorithm needs a key of its type.
  std::vector<std::string> algorithms;
  // HMAC secret for HS*: at least as many bytes as the hash output
  // (32 for HS256, 48 for HS384, 64 for HS512), per RFC 7518 3.2.
  std::string hs256_secret;
  // PEM text with one or more `PUBLIC KEY` (SubjectPublicKeyInfo) blocks:
  // RSA keys (>= 2048 bits) for RS*, EC keys for ES* (P-256 for ES256, P-384
  // for ES384, P-521 for ES512). Several keys allow rotation: a token is
  // accepted when any key of the right type verifies it.
  std::string public_key_pem;
  // Clock skew allowed on exp and nbf.
  absl::Duration leeway = absl::Seconds(30);
  // When non-empty, `iss` must equal it / `aud` (string or array) must contain it.
  std::string issuer;
  std::string audience;
  // Name of the claim object holding the grants.
  std::string claim = "tailgate";
  // SSE token sources besides Authorization: Bearer: a cookie (empty: not
  // read) and, opt-in, the access_token query parameter.
  std::string cookie_name;
  bool allow_query_param = false;
  // Public keys from a JWKS document (gateway/auth/jwks.h), selected by the
  // token's `kid`, in addition to public_key_pem. A path / an https:// URL;
  // empty = not used.
  std::string jwks_file;
  std::string jwks_url;
  // PEM CA bundle trusted for jwks_url; empty = the system's roots.
  std::string jwks_ca_file;
  // How often jwks_file's mtime is checked, and jwks_url re-fetched.
  absl::Duration jwks_file_poll = absl::Seconds(1);
  absl::Duration jwks_refresh = absl::Minutes(5);
  // A token naming an unknown `kid` triggers a fetch of jwks_url at most
  // this often (a flood of made-up kids cannot hammer the provider).
  absl::Duration jwks_min_refetch = absl::Seconds(30);

  bool jwks_enabled() const { return !jwks_file.empty() || !jwks_url.empty(); }

  bool enabled() const { return subscribe_required || publish_required; }
};

// Limits of the Publisher service (gateway/grpc/publisher_service.h).
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
  // Request bytes held, over all publish calls, between receipt and ack
  // (see gateway/publish/budget.h).
  size_t memory_budget_bytes = size_t{256} << 20;
  // POST /v1/publish on the HTTP port (gateway/publish/http_publish.h): off (404),
  // on (a token with publish grants, as for gRPC; needs
  // AuthConfig::publish_required), open (anyone: development only).
  enum class HttpMode { kOff, kOn, kOpen };
  HttpMode http_mode = HttpMode::kOff;
  // Origins allowed to publish from a browser: exact origins, or "*" for
  // any. Separate from SseConfig::cors_origins. Empty: no cross-origin
  // publishing (a request with another Origin header is refused).
  std::vector<std::string> http_cors_origins;
};

// Operations: metrics, admin API, slow-commit logging (README "Operations").
struct OpsConfig {
  // Serve tailgate.v1.Admin on the gRPC port.
  bool admin = true;
  // Per-topic gauges on /metrics for the topics_limit topics with the most
  // retained events (opt-in: topics are unbounded).
  bool metrics_topics = false;
  size_t metrics_topics_limit = 20;
  // How often store statistics behind /metrics are refreshed (and gRPC
  // health re-evaluated), off the event loops.
  absl::Duration stats_interval = absl::Seconds(5);
  // Per-subscription-pattern subscriber gauges on /metrics
  // (tailgate_subscribers{pattern=...}) for the subscribers_limit patterns
  // with the most open streams (opt-in: patterns are client-chosen).
  bool metrics_subscribers = false;
  size_t metrics_subscribers_limit = 20;
  // Where revocations persist (gateway/auth/revocations.h). Empty: `revocations`
  // in the data dir (RocksDB); in memory only on JetStream.
  std::string revocations_file;
  // A commit write slower than this is logged as a warning (0 = never).
  absl::Duration slow_commit = absl::Seconds(1);
  // On SIGTERM, readiness (/readyz, gRPC health) turns off at once but the
  // gateway keeps serving this long before draining, so load balancers stop
  // sending new clients first.
  absl::Duration drain_grace = absl::ZeroDuration();
};

struct Config {
  OpsConfig ops;
  HttpConfig http;
  GrpcConfig grpc;
  PublishConfig publish;
  SseConfig sse;
  AuthConfig auth;
  store::Options store;  // store.data_dir is --data_dir.
  // Which log implementation holds the events (--store=rocksdb|jetstream).
  enum class StoreBackend { kRocksDb, kJetStream };
  StoreBackend store_backend = StoreBackend::kRocksDb;
  // --store=jetstream: --nats_url, --nats_stream, --nats_subject_prefix,
  // --nats_replicas, --nats_read_cache_bytes.
  store::JetStreamOptions jetstream;
  // Upper bound on a graceful shutdown before connections are cut.
  absl::Duration drain_timeout = absl::Seconds(10);
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CONFIG_H_

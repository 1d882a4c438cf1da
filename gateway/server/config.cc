#include "gateway/server/config.h"

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gateway/server/config_check.h"
#include "gateway/server/retention_spec.h"
#include "store/jetstream_log.h"

// Every flag of the binary is defined in this file, so that --help (which
// lists one file's flags, see IsServerFlagsFile) shows them all. Their
// defaults and help texts are documented in docs/configuration.md.
ABSL_FLAG(std::string, http_listen, "127.0.0.1:8080",
          "HTTP/SSE listen address, HOST:PORT or [IPV6]:PORT; port 0 picks a free port");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:50051",
          "gRPC listen address, HOST:PORT or [IPV6]:PORT; port 0 picks a free port");
ABSL_FLAG(std::string, data_dir, "./tailgate-data",
          "directory of the event log (created if missing); --store=rocksdb only");
ABSL_FLAG(std::string, store, "rocksdb",
          "where events live: rocksdb (embedded, in --data_dir) or jetstream (a NATS JetStream "
          "stream shared by every gateway node; needs --nats_url)");
ABSL_FLAG(std::string, nats_url, "",
          "--store=jetstream: NATS server URL(s), comma-separated, e.g. "
          "nats://10.0.0.1:4222,nats://10.0.0.2:4222");
ABSL_FLAG(std::string, nats_stream, "TAILGATE",
          "--store=jetstream: the stream holding every topic (created or updated on start)");
ABSL_FLAG(std::string, nats_subject_prefix, "tailgate",
          "--store=jetstream: topic t is stored under subject PREFIX.t");
ABSL_FLAG(int, nats_replicas, 1, "--store=jetstream: stream replicas (3 in a 3-node cluster)");
ABSL_FLAG(int64_t, nats_read_cache_bytes, int64_t{256} << 20,
          "--store=jetstream: memory for the node-local copy of the stream's newest events that "
          "reads are served from (loaded from the stream at start; 0: off, every read asks "
          "JetStream)");
ABSL_FLAG(int, http_threads, 0, "HTTP event-loop threads; 0 = one per core");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(10),
          "longest graceful shutdown before remaining connections are cut");
ABSL_FLAG(std::string, durability, "fsync",
          "when an ack is sent: fsync (WAL synced; survives power loss), wal (WAL written; "
          "survives a process crash) or none (no WAL; survives only a clean stop)");
ABSL_FLAG(absl::Duration, dedup_window, absl::Minutes(10),
          "how long a (topic, idempotency_key) is remembered for deduplication");
ABSL_FLAG(int64_t, max_data_bytes, 1 << 20, "largest event data in bytes");
ABSL_FLAG(int64_t, max_batch_events, 1000, "most events in one PublishBatch");
ABSL_FLAG(int64_t, max_request_bytes, int64_t{64} << 20,
          "largest gRPC request message in bytes (a whole PublishBatch)");
ABSL_FLAG(int64_t, max_inflight_per_stream, 1024,
          "unacknowledged requests one PublishStream may have; reading pauses at this many");
ABSL_FLAG(int64_t, publish_memory_budget, int64_t{256} << 20,
          "bytes of publish requests held, over all calls, between receipt and ack; beyond it "
          "Publish/PublishBatch get RESOURCE_EXHAUSTED and PublishStreams stop reading");
ABSL_FLAG(std::string, http_publish, "off",
          "POST /v1/publish on the HTTP port: off (404), on (a JWT with publish grants, needs "
          "--auth_publish=required), open (anyone may publish: development only)");
ABSL_FLAG(std::string, publish_cors_origins, "",
          "CORS origins allowed to POST /v1/publish from a browser: comma-separated exact "
          "origins, or * for any; empty = none (separate from --cors_origins)");
ABSL_FLAG(int64_t, retry_ms, 3000,
          "SSE \"retry:\" sent at the start of each stream (client reconnect delay, ms); 0 = none");
ABSL_FLAG(absl::Duration, heartbeat, absl::Seconds(15),
          "SSE comment line sent on a stream idle this long");
ABSL_FLAG(std::string, cors_origins, "",
          "CORS origins allowed to subscribe: comma-separated exact origins, or * for any; "
          "empty = no CORS headers");
ABSL_FLAG(bool, cors_credentials, false,
          "send Access-Control-Allow-Credentials: true (the origin is echoed, never *); needs "
          "--cors_origins to list exact origins (with * the gateway refuses to start)");
ABSL_FLAG(int, max_connections, 10000,
          "open HTTP connections (SSE streams included), counted from a connection's first "
          "byte; beyond it requests get 503 (/v1/events: a 200 stream with only retry:)");
ABSL_FLAG(absl::Duration, write_timeout, absl::Seconds(30),
          "an SSE write not completing within this drops the peer");
ABSL_FLAG(int64_t, tail_cache_events, 100000, "recent encoded events kept in memory for fan-out");
ABSL_FLAG(int64_t, tail_cache_bytes, int64_t{64} << 20,
          "memory bound of the tail cache in bytes");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error");
ABSL_FLAG(std::string, log_format, "text", "text (one line per event) or json (JSON lines)");
ABSL_FLAG(bool, log_json, false, "deprecated alias of --log_format=json");
ABSL_FLAG(bool, admin, true, "serve the tailgate.v1.Admin API (topics, trim, delete, stats, "
          "checkpoint) on the gRPC port");
ABSL_FLAG(bool, metrics_topics, false,
          "export per-topic gauges on /metrics for the --metrics_topics_limit topics with the "
          "most retained events");
ABSL_FLAG(int64_t, metrics_topics_limit, 20, "topics exported by --metrics_topics (top N)");
ABSL_FLAG(bool, metrics_subscribers, false,
          "export tailgate_subscribers{pattern} gauges on /metrics: open SSE and Subscribe "
          "streams per subscription pattern, for the --metrics_subscribers_limit busiest");
ABSL_FLAG(int64_t, metrics_subscribers_limit, 20,
          "patterns exported by --metrics_subscribers (top N)");
ABSL_FLAG(std::string, revocations_file, "",
          "where Admin/Revoke persists revocations (written atomically); default: "
          "'revocations' in --data_dir; with --store=jetstream and no file: memory only");
ABSL_FLAG(absl::Duration, metrics_interval, absl::Seconds(5),
          "how often store statistics on /metrics (sizes, topics) are refreshed and gRPC "
          "health is re-evaluated");
ABSL_FLAG(absl::Duration, slow_commit, absl::Seconds(1),
          "log a warning when a commit's write (WAL sync included) takes longer; 0 = never");
ABSL_FLAG(absl::Duration, drain_grace, absl::ZeroDuration(),
          "on SIGTERM, keep serving this long with readiness off (/readyz 503, gRPC health "
          "NOT_SERVING) before draining, so load balancers move traffic first");
ABSL_FLAG(std::string, retention, "",
          "per-topic retention rules, first match wins: PATTERN=LIMIT[:LIMIT],... where LIMIT is "
          "an age (7d, 12h, 1d12h) or an event count, e.g. \"orders.>=7d,metrics.*=1000\"");
ABSL_FLAG(std::string, retention_default_age, "7d",
          "age limit of topics no --retention rule matches; 0 = no age limit");
ABSL_FLAG(int64_t, retention_default_events, 1000000,
          "events kept per topic no --retention rule matches; 0 = no count limit");
ABSL_FLAG(int64_t, retention_max_bytes, int64_t{10} << 30,
          "cap on stored event data bytes over all topics (oldest go first); 0 = no cap");
ABSL_FLAG(absl::Duration, retention_interval, absl::Seconds(10),
          "how often retention runs in the background");
ABSL_FLAG(std::string, http2, "on",
          "on: HTTP/2 on the HTTP port too (h2c with prior knowledge; h2 by TLS ALPN); off: "
          "HTTP/1.1 only");
ABSL_FLAG(int, http2_max_streams, 100,
          "SETTINGS_MAX_CONCURRENT_STREAMS: concurrent requests on one HTTP/2 connection");
ABSL_FLAG(int, http2_max_resets, 200,
          "RST_STREAM frames one HTTP/2 client may send a second before GOAWAY "
          "ENHANCE_YOUR_CALM (rapid reset); 0 = no limit");
ABSL_FLAG(absl::Duration, http_header_timeout, absl::Seconds(10),
          "an HTTP client must send its whole request head (and finish the TLS handshake) "
          "within this; idle keep-alive connections close after it too");
// Security (README "Security").
ABSL_FLAG(std::string, auth_subscribe, "off",
          "off, or required: SSE and Subscribe need a JWT whose subscribe grants cover every "
          "requested pattern");
ABSL_FLAG(std::string, auth_publish, "off",
          "off, or required: Publish* RPCs need a JWT whose publish grants match each topic");
ABSL_FLAG(std::string, jwt_algorithms, "",
          "comma-separated JWS algorithms accepted, e.g. RS256,ES256 (HS256/384/512, "
          "RS256/384/512, ES256/384/512); required when auth is on");
ABSL_FLAG(std::string, jwt_hs256_secret_file, "",
          "file holding the HMAC secret for HS* (one trailing newline is ignored)");
ABSL_FLAG(std::string, jwt_public_key_file, "",
          "PEM file with one or more PUBLIC KEY blocks (RSA for RS*, EC for ES*)");
ABSL_FLAG(std::string, auth_jwks_file, "",
          "JWKS document (RFC 7517) with the RS*/ES* public keys, chosen by the token's kid; "
          "re-read when it changes");
ABSL_FLAG(std::string, auth_jwks_url, "",
          "https:// URL of the identity provider's JWKS; fetched in the background, refreshed "
          "every --auth_jwks_refresh and on an unknown kid; cached keys stay while it is down");
ABSL_FLAG(std::string, auth_jwks_ca, "",
          "PEM CA bundle trusted for --auth_jwks_url; empty = the system's roots");
ABSL_FLAG(absl::Duration, auth_jwks_refresh, absl::Minutes(5),
          "how often --auth_jwks_url is fetched again");
ABSL_FLAG(absl::Duration, auth_jwks_min_refetch, absl::Seconds(30),
          "a token with an unknown kid triggers a JWKS fetch at most this often");
ABSL_FLAG(absl::Duration, jwt_leeway, absl::Seconds(30), "clock skew allowed on exp / nbf");
ABSL_FLAG(std::string, jwt_issuer, "", "when set, a token's iss must equal it");
ABSL_FLAG(std::string, jwt_audience, "", "when set, a token's aud must contain it");
ABSL_FLAG(std::string, jwt_claim, "tailgate", "name of the claim object holding the grants");
ABSL_FLAG(std::string, auth_cookie, "",
          "cookie carrying the token for browsers (EventSource withCredentials); empty = "
          "cookies are not read");
ABSL_FLAG(bool, auth_query_param, false,
          "also accept the token as ?access_token= on SSE requests (redacted from logs)");
ABSL_FLAG(std::string, http_tls_cert, "", "PEM certificate chain for HTTPS; empty = plaintext");
ABSL_FLAG(std::string, http_tls_key, "", "PEM private key for --http_tls_cert");
ABSL_FLAG(std::string, grpc_tls_cert, "", "PEM certificate chain for gRPC TLS; empty = plaintext");
ABSL_FLAG(std::string, grpc_tls_key, "", "PEM private key for --grpc_tls_cert");
ABSL_FLAG(std::string, grpc_tls_client_ca, "",
          "PEM CA bundle: require gRPC clients to present a certificate it verifies (mutual TLS)");

namespace tailgate {
namespace {

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

// Comma-separated, blanks around entries dropped, empty entries skipped.
std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return out;
}

// The whole file; false when it cannot be read.
bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// "off" / "required" of --auth_subscribe and --auth_publish.
bool ParseAuthMode(const std::string& value, bool* required) {
  if (value == "off") {
    *required = false;
  } else if (value == "required") {
    *required = true;
  } else {
    return false;
  }
  return true;
}

absl::Status LogFlags(LogOptions* log) {
  absl::StatusOr<LogLevel> level = ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) return Invalid("--log_level: " + std::string(level.status().message()));
  const std::string format = absl::GetFlag(FLAGS_log_format);
  if (format != "text" && format != "json") {
    return Invalid("--log_format must be text or json, got '" + format + "'");
  }
  log->min_level = *level;
  log->json = format == "json" || absl::GetFlag(FLAGS_log_json);
  return absl::OkStatus();
}

// A literal NATS subject: tokens separated by '.', no wildcards.
bool NatsSubjectPrefixOk(const std::string& prefix) {
  if (prefix.empty() || prefix.find_first_of(" \t\r\n*>") != std::string::npos) return false;
  for (absl::string_view token : absl::StrSplit(prefix, '.')) {
    if (token.empty()) return false;
  }
  return true;
}

// --store, --data_dir, --durability, --dedup_window and the --nats_* flags.
absl::Status StoreFlags(Config* config) {
  config->store.data_dir = absl::GetFlag(FLAGS_data_dir);
  const std::string store = absl::GetFlag(FLAGS_store);
  store::JetStreamOptions& js = config->jetstream;
  js.url = std::string(absl::StripAsciiWhitespace(absl::GetFlag(FLAGS_nats_url)));
  js.stream = absl::GetFlag(FLAGS_nats_stream);
  js.subject_prefix = absl::GetFlag(FLAGS_nats_subject_prefix);
  js.replicas = absl::GetFlag(FLAGS_nats_replicas);
  if (store == "rocksdb") {
    config->store_backend = Config::StoreBackend::kRocksDb;
  } else if (store == "jetstream") {
    config->store_backend = Config::StoreBackend::kJetStream;
    if (js.url.empty()) {
      return Invalid("--store=jetstream needs --nats_url (e.g. --nats_url=nats://127.0.0.1:4222)");
    }
    // The store's rule, the one it applies when the log opens.
    if (absl::Status name = store::ValidateJetStreamStreamName(js.stream, "--nats_stream");
        !name.ok()) {
      return name;
    }
    if (!NatsSubjectPrefixOk(js.subject_prefix)) {
      return Invalid(
          "--nats_subject_prefix must be a literal NATS subject (tokens joined by '.', no "
          "spaces or wildcards), got '" + js.subject_prefix + "'");
    }
    if (js.replicas < 1 || js.replicas > 5) return Invalid("--nats_replicas must be in [1, 5]");
    const int64_t read_cache = absl::GetFlag(FLAGS_nats_read_cache_bytes);
    if (read_cache < 0) return Invalid("--nats_read_cache_bytes must be >= 0");
    js.read_cache_bytes = static_cast<size_t>(read_cache);
  } else {
    return Invalid("--store must be rocksdb or jetstream, got '" + store + "'");
  }
  absl::StatusOr<store::Durability> durability =
      store::ParseDurability(absl::GetFlag(FLAGS_durability));
  if (!durability.ok()) return Invalid("--" + std::string(durability.status().message()));
  config->store.durability = *durability;
  config->store.dedup_window = absl::GetFlag(FLAGS_dedup_window);
  if (config->store.dedup_window < absl::ZeroDuration()) {
    return Invalid("--dedup_window must be >= 0");
  }
  return absl::OkStatus();
}

// The Publisher's limits, --http_publish and --publish_cors_origins.
absl::Status PublishFlags(Config* config) {
  PublishConfig& publish = config->publish;
  const int64_t max_data = absl::GetFlag(FLAGS_max_data_bytes);
  const int64_t max_batch = absl::GetFlag(FLAGS_max_batch_events);
  const int64_t max_request = absl::GetFlag(FLAGS_max_request_bytes);
  const int64_t max_inflight = absl::GetFlag(FLAGS_max_inflight_per_stream);
  const int64_t budget = absl::GetFlag(FLAGS_publish_memory_budget);
  if (max_data < 1 || max_data > (int64_t{1} << 30)) {
    return Invalid("--max_data_bytes must be in [1, 1073741824]");
  }
  if (max_batch < 1) return Invalid("--max_batch_events must be >= 1");
  if (max_request < 1 || max_request > INT32_MAX) {
    return Invalid("--max_request_bytes must be in [1, 2147483647]");
  }
  if (max_inflight < 1) return Invalid("--max_inflight_per_stream must be >= 1");
  if (budget < (int64_t{1} << 20)) return Invalid("--publish_memory_budget must be >= 1048576 (1 MiB)");
  publish.memory_budget_bytes = static_cast<size_t>(budget);
  publish.max_data_bytes = static_cast<size_t>(max_data);
  publish.max_batch_events = static_cast<size_t>(max_batch);
  publish.max_request_bytes = static_cast<size_t>(max_request);
  publish.max_inflight_per_stream = static_cast<size_t>(max_inflight);
  // The log refuses what the Publisher would: one limit.
  config->store.max_data_bytes = publish.max_data_bytes;
  const std::string mode = absl::GetFlag(FLAGS_http_publish);
  if (mode == "off") {
    publish.http_mode = PublishConfig::HttpMode::kOff;
  } else if (mode == "on") {
    publish.http_mode = PublishConfig::HttpMode::kOn;
  } else if (mode == "open") {
    publish.http_mode = PublishConfig::HttpMode::kOpen;
  } else {
    return Invalid("--http_publish must be off, on or open");
  }
  publish.http_cors_origins = SplitList(absl::GetFlag(FLAGS_publish_cors_origins));
  return absl::OkStatus();
}

// The HTTP and gRPC listeners and the shutdown bound.
absl::Status ServerFlags(Config* config) {
  HttpConfig& http = config->http;
  http.listen = absl::GetFlag(FLAGS_http_listen);
  if (http.listen.empty()) return Invalid("--http_listen must not be empty");
  config->grpc.listen = absl::GetFlag(FLAGS_grpc_listen);
  if (config->grpc.listen.empty()) return Invalid("--grpc_listen must not be empty");
  http.threads = absl::GetFlag(FLAGS_http_threads);
  if (http.threads < 0) return Invalid("--http_threads must be >= 0");
  http.max_connections = absl::GetFlag(FLAGS_max_connections);
  if (http.max_connections < 1) return Invalid("--max_connections must be >= 1");
  if (const std::string h2 = absl::GetFlag(FLAGS_http2); h2 == "on" || h2 == "off") {
    http.http2 = h2 == "on";
  } else {
    return Invalid("--http2 must be on or off");
  }
  http.http2_max_streams = absl::GetFlag(FLAGS_http2_max_streams);
  if (http.http2_max_streams < 1) return Invalid("--http2_max_streams must be >= 1");
  http.http2_max_resets_per_second = absl::GetFlag(FLAGS_http2_max_resets);
  if (http.http2_max_resets_per_second < 0) return Invalid("--http2_max_resets must be >= 0");
  http.header_timeout = absl::GetFlag(FLAGS_http_header_timeout);
  if (http.header_timeout <= absl::ZeroDuration()) {
    return Invalid("--http_header_timeout must be > 0");
  }
  config->drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  if (config->drain_timeout < absl::ZeroDuration()) return Invalid("--drain_timeout must be >= 0");
  return absl::OkStatus();
}

// SSE streams and the hub's tail cache.
absl::Status SseFlags(Config* config) {
  SseConfig& sse = config->sse;
  const int64_t retry_ms = absl::GetFlag(FLAGS_retry_ms);
  if (retry_ms < 0) return Invalid("--retry_ms must be >= 0");
  sse.retry = absl::Milliseconds(retry_ms);
  sse.heartbeat = absl::GetFlag(FLAGS_heartbeat);
  if (sse.heartbeat <= absl::ZeroDuration()) return Invalid("--heartbeat must be > 0");
  sse.cors_origins = SplitList(absl::GetFlag(FLAGS_cors_origins));
  sse.cors_credentials = absl::GetFlag(FLAGS_cors_credentials);
  sse.write_timeout = absl::GetFlag(FLAGS_write_timeout);
  if (sse.write_timeout <= absl::ZeroDuration()) return Invalid("--write_timeout must be > 0");
  // One flag for both: an HTTP/2 stream is held to what an HTTP/1.1 one is.
  config->http.write_timeout = sse.write_timeout;
  const int64_t cache_events = absl::GetFlag(FLAGS_tail_cache_events);
  const int64_t cache_bytes = absl::GetFlag(FLAGS_tail_cache_bytes);
  if (cache_events < 0 || cache_bytes < 0) {
    return Invalid("--tail_cache_events and --tail_cache_bytes must be >= 0");
  }
  sse.tail_cache_events = static_cast<size_t>(cache_events);
  sse.tail_cache_bytes = static_cast<size_t>(cache_bytes);
  return absl::OkStatus();
}

// Admin, /metrics, revocations, slow commits, draining.
absl::Status OpsFlags(OpsConfig* ops) {
  ops->admin = absl::GetFlag(FLAGS_admin);
  ops->metrics_topics = absl::GetFlag(FLAGS_metrics_topics);
  const int64_t topics_limit = absl::GetFlag(FLAGS_metrics_topics_limit);
  if (topics_limit < 1 || topics_limit > 10000) {
    return Invalid("--metrics_topics_limit must be in [1, 10000]");
  }
  ops->metrics_topics_limit = static_cast<size_t>(topics_limit);
  ops->metrics_subscribers = absl::GetFlag(FLAGS_metrics_subscribers);
  const int64_t subscribers_limit = absl::GetFlag(FLAGS_metrics_subscribers_limit);
  if (subscribers_limit < 1 || subscribers_limit > 10000) {
    return Invalid("--metrics_subscribers_limit must be in [1, 10000]");
  }
  ops->metrics_subscribers_limit = static_cast<size_t>(subscribers_limit);
  ops->revocations_file = absl::GetFlag(FLAGS_revocations_file);
  ops->stats_interval = absl::GetFlag(FLAGS_metrics_interval);
  if (ops->stats_interval <= absl::ZeroDuration()) return Invalid("--metrics_interval must be > 0");
  ops->slow_commit = absl::GetFlag(FLAGS_slow_commit);
  if (ops->slow_commit < absl::ZeroDuration()) return Invalid("--slow_commit must be >= 0");
  ops->drain_grace = absl::GetFlag(FLAGS_drain_grace);
  if (ops->drain_grace < absl::ZeroDuration()) return Invalid("--drain_grace must be >= 0");
  return absl::OkStatus();
}

// --retention* (the syntax is retention_spec.h's).
absl::Status RetentionFlags(store::Options* options) {
  absl::StatusOr<std::vector<store::RetentionRule>> rules =
      ParseRetentionRules(absl::GetFlag(FLAGS_retention));
  if (!rules.ok()) return Invalid("--retention: " + std::string(rules.status().message()));
  options->retention_rules = *std::move(rules);
  absl::StatusOr<absl::Duration> default_age =
      ParseRetentionAge(absl::GetFlag(FLAGS_retention_default_age));
  if (!default_age.ok()) {
    return Invalid("--retention_default_age: " + std::string(default_age.status().message()));
  }
  const int64_t default_events = absl::GetFlag(FLAGS_retention_default_events);
  if (default_events < 0) return Invalid("--retention_default_events must be >= 0");
  const int64_t max_bytes = absl::GetFlag(FLAGS_retention_max_bytes);
  if (max_bytes < 0) return Invalid("--retention_max_bytes must be >= 0");
  options->default_retention =
      store::RetentionRule{">", static_cast<uint64_t>(default_events), *default_age};
  options->max_total_bytes = static_cast<uint64_t>(max_bytes);  // 0 = no cap
  options->retention_interval = absl::GetFlag(FLAGS_retention_interval);
  if (options->retention_interval <= absl::ZeroDuration()) {
    return Invalid("--retention_interval must be > 0");
  }
  return absl::OkStatus();
}

// --auth_*, --jwt_* (the key files are read here) and the TLS files.
absl::Status SecurityFlags(Config* config) {
  AuthConfig& auth = config->auth;
  if (!ParseAuthMode(absl::GetFlag(FLAGS_auth_subscribe), &auth.subscribe_required)) {
    return Invalid("--auth_subscribe must be off or required");
  }
  if (!ParseAuthMode(absl::GetFlag(FLAGS_auth_publish), &auth.publish_required)) {
    return Invalid("--auth_publish must be off or required");
  }
  auth.algorithms = SplitList(absl::GetFlag(FLAGS_jwt_algorithms));
  if (const std::string path = absl::GetFlag(FLAGS_jwt_hs256_secret_file); !path.empty()) {
    if (!ReadFile(path, &auth.hs256_secret)) {
      return Invalid("--jwt_hs256_secret_file=" + path + ": cannot read");
    }
    // Editors end files with a newline; a secret does not (one CRLF at most).
    if (!auth.hs256_secret.empty() && auth.hs256_secret.back() == '\n') auth.hs256_secret.pop_back();
    if (!auth.hs256_secret.empty() && auth.hs256_secret.back() == '\r') auth.hs256_secret.pop_back();
  }
  if (const std::string path = absl::GetFlag(FLAGS_jwt_public_key_file); !path.empty()) {
    if (!ReadFile(path, &auth.public_key_pem)) {
      return Invalid("--jwt_public_key_file=" + path + ": cannot read");
    }
  }
  auth.leeway = absl::GetFlag(FLAGS_jwt_leeway);
  if (auth.leeway < absl::ZeroDuration()) return Invalid("--jwt_leeway must be >= 0");
  auth.issuer = absl::GetFlag(FLAGS_jwt_issuer);
  auth.audience = absl::GetFlag(FLAGS_jwt_audience);
  auth.claim = absl::GetFlag(FLAGS_jwt_claim);
  auth.cookie_name = absl::GetFlag(FLAGS_auth_cookie);
  auth.allow_query_param = absl::GetFlag(FLAGS_auth_query_param);
  auth.jwks_file = absl::GetFlag(FLAGS_auth_jwks_file);
  auth.jwks_url = absl::GetFlag(FLAGS_auth_jwks_url);
  auth.jwks_ca_file = absl::GetFlag(FLAGS_auth_jwks_ca);
  auth.jwks_refresh = absl::GetFlag(FLAGS_auth_jwks_refresh);
  auth.jwks_min_refetch = absl::GetFlag(FLAGS_auth_jwks_min_refetch);
  if (auth.jwks_refresh < absl::Seconds(1)) return Invalid("--auth_jwks_refresh must be >= 1s");
  if (auth.jwks_min_refetch < absl::ZeroDuration()) {
    return Invalid("--auth_jwks_min_refetch must be >= 0");
  }
  config->http.tls_cert_file = absl::GetFlag(FLAGS_http_tls_cert);
  config->http.tls_key_file = absl::GetFlag(FLAGS_http_tls_key);
  config->grpc.tls_cert_file = absl::GetFlag(FLAGS_grpc_tls_cert);
  config->grpc.tls_key_file = absl::GetFlag(FLAGS_grpc_tls_key);
  config->grpc.tls_client_ca_file = absl::GetFlag(FLAGS_grpc_tls_client_ca);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerConfig> ConfigFromFlags() {
  ServerConfig out;
  Config& config = out.gateway;
  if (absl::Status s = LogFlags(&out.log); !s.ok()) return s;
  if (absl::Status s = ServerFlags(&config); !s.ok()) return s;
  if (absl::Status s = StoreFlags(&config); !s.ok()) return s;
  if (absl::Status s = PublishFlags(&config); !s.ok()) return s;
  if (absl::Status s = SseFlags(&config); !s.ok()) return s;
  if (absl::Status s = OpsFlags(&config.ops); !s.ok()) return s;
  if (absl::Status s = RetentionFlags(&config.store); !s.ok()) return s;
  if (absl::Status s = SecurityFlags(&config); !s.ok()) return s;
  // Each flag's own range above; the rules between flags last.
  if (absl::Status s = CheckConfig(config); !s.ok()) return s;
  out.retention_text = absl::GetFlag(FLAGS_retention);
  return out;
}

bool IsServerFlagsFile(absl::string_view file) { return absl::EndsWith(file, __FILE__); }

}  // namespace tailgate

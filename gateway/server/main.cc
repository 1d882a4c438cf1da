// tailgate: gRPC publish -> durable log -> Server-Sent Events.
// Wiring and flags only: flags become a Config, everything else lives in libraries.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "absl/strings/str_cat.h"
#include "gateway/config.h"
#include "gateway/server/flag_precheck.h"
#include "gateway/server/gateway.h"
#include "gateway/logging.h"
#include "gateway/server/retention_spec.h"
#include "gateway/server/version.h"
#include "gateway/server/working_dir.h"

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

namespace {

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

// The whole file; false when it cannot be read.
bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// Auth and TLS flags into `config`; an error message naming the flag, or "".
std::string SecurityFlags(tailgate::Config* config) {
  tailgate::AuthConfig& auth = config->auth;
  if (!ParseAuthMode(absl::GetFlag(FLAGS_auth_subscribe), &auth.subscribe_required)) {
    return "--auth_subscribe must be off or required";
  }
  if (!ParseAuthMode(absl::GetFlag(FLAGS_auth_publish), &auth.publish_required)) {
    return "--auth_publish must be off or required";
  }
  for (absl::string_view alg :
       absl::StrSplit(absl::GetFlag(FLAGS_jwt_algorithms), ',', absl::SkipWhitespace())) {
    auth.algorithms.emplace_back(absl::StripAsciiWhitespace(alg));
  }
  if (const std::string path = absl::GetFlag(FLAGS_jwt_hs256_secret_file); !path.empty()) {
    if (!ReadFile(path, &auth.hs256_secret)) return "--jwt_hs256_secret_file=" + path + ": cannot read";
    if (!auth.hs256_secret.empty() && auth.hs256_secret.back() == '\n') auth.hs256_secret.pop_back();
    if (!auth.hs256_secret.empty() && auth.hs256_secret.back() == '\r') auth.hs256_secret.pop_back();
  }
  if (const std::string path = absl::GetFlag(FLAGS_jwt_public_key_file); !path.empty()) {
    if (!ReadFile(path, &auth.public_key_pem)) return "--jwt_public_key_file=" + path + ": cannot read";
  }
  auth.leeway = absl::GetFlag(FLAGS_jwt_leeway);
  if (auth.leeway < absl::ZeroDuration()) return "--jwt_leeway must be >= 0";
  auth.issuer = absl::GetFlag(FLAGS_jwt_issuer);
  auth.audience = absl::GetFlag(FLAGS_jwt_audience);
  auth.claim = absl::GetFlag(FLAGS_jwt_claim);
  auth.cookie_name = absl::GetFlag(FLAGS_auth_cookie);
  auth.allow_query_param = absl::GetFlag(FLAGS_auth_query_param);
  if (auth.enabled() && auth.algorithms.empty()) {
    return "--jwt_algorithms is required when --auth_subscribe or --auth_publish is required";
  }
  config->http.tls_cert_file = absl::GetFlag(FLAGS_http_tls_cert);
  config->http.tls_key_file = absl::GetFlag(FLAGS_http_tls_key);
  if (config->http.tls_cert_file.empty() != config->http.tls_key_file.empty()) {
    return "--http_tls_cert and --http_tls_key must be given together";
  }
  config->grpc.tls_cert_file = absl::GetFlag(FLAGS_grpc_tls_cert);
  config->grpc.tls_key_file = absl::GetFlag(FLAGS_grpc_tls_key);
  config->grpc.tls_client_ca_file = absl::GetFlag(FLAGS_grpc_tls_client_ca);
  if (config->grpc.tls_cert_file.empty() != config->grpc.tls_key_file.empty()) {
    return "--grpc_tls_cert and --grpc_tls_key must be given together";
  }
  if (!config->grpc.tls_client_ca_file.empty() && config->grpc.tls_cert_file.empty()) {
    return "--grpc_tls_client_ca needs --grpc_tls_cert and --grpc_tls_key";
  }
  return "";
}

// --store and the --nats_* flags into `config`; an error message naming the
// flag, or "".
// --auth_jwks_*.
std::string JwksFlags(tailgate::AuthConfig* auth) {
  auth->jwks_file = absl::GetFlag(FLAGS_auth_jwks_file);
  auth->jwks_url = absl::GetFlag(FLAGS_auth_jwks_url);
  auth->jwks_ca_file = absl::GetFlag(FLAGS_auth_jwks_ca);
  auth->jwks_refresh = absl::GetFlag(FLAGS_auth_jwks_refresh);
  auth->jwks_min_refetch = absl::GetFlag(FLAGS_auth_jwks_min_refetch);
  if (auth->jwks_refresh < absl::Seconds(1)) return "--auth_jwks_refresh must be >= 1s";
  if (auth->jwks_min_refetch < absl::ZeroDuration()) return "--auth_jwks_min_refetch must be >= 0";
  return "";
}

// --http_publish and --publish_cors_origins.
std::string HttpPublishFlags(tailgate::Config* config) {
  const std::string mode = absl::GetFlag(FLAGS_http_publish);
  using Mode = tailgate::PublishConfig::HttpMode;
  if (mode == "off") {
    config->publish.http_mode = Mode::kOff;
  } else if (mode == "on") {
    config->publish.http_mode = Mode::kOn;
  } else if (mode == "open") {
    config->publish.http_mode = Mode::kOpen;
  } else {
    return "--http_publish must be off, on or open";
  }
  for (absl::string_view origin :
       absl::StrSplit(absl::GetFlag(FLAGS_publish_cors_origins), ',', absl::SkipWhitespace())) {
    config->publish.http_cors_origins.emplace_back(absl::StripAsciiWhitespace(origin));
  }
  return "";
}

std::string StoreFlags(tailgate::Config* config) {
  const std::string store = absl::GetFlag(FLAGS_store);
  tailgate::store::JetStreamOptions& js = config->jetstream;
  js.url = std::string(absl::StripAsciiWhitespace(absl::GetFlag(FLAGS_nats_url)));
  js.stream = absl::GetFlag(FLAGS_nats_stream);
  js.subject_prefix = absl::GetFlag(FLAGS_nats_subject_prefix);
  js.replicas = absl::GetFlag(FLAGS_nats_replicas);
  if (store == "rocksdb") {
    config->store_backend = tailgate::Config::StoreBackend::kRocksDb;
    return "";
  }
  if (store != "jetstream") return "--store must be rocksdb or jetstream, got '" + store + "'";
  config->store_backend = tailgate::Config::StoreBackend::kJetStream;
  if (js.url.empty()) {
    return "--store=jetstream needs --nats_url (e.g. --nats_url=nats://127.0.0.1:4222)";
  }
  // JetStream stream names: no whitespace, '.', '*', '>', path separators.
  if (js.stream.empty() || js.stream.find_first_of(" \t\r\n.*>/\\") != std::string::npos) {
    return "--nats_stream must be a non-empty name without spaces, '.', '*', '>', '/' or '\\', "
           "got '" + js.stream + "'";
  }
  // A literal subject prefix: tokens separated by '.', no wildcards.
  bool prefix_ok = !js.subject_prefix.empty() &&
                   js.subject_prefix.find_first_of(" \t\r\n*>") == std::string::npos;
  for (absl::string_view token : absl::StrSplit(js.subject_prefix, '.')) {
    if (token.empty()) prefix_ok = false;
  }
  if (!prefix_ok) {
    return "--nats_subject_prefix must be a literal NATS subject (tokens joined by '.', no "
           "spaces or wildcards), got '" + js.subject_prefix + "'";
  }
  if (js.replicas < 1 || js.replicas > 5) return "--nats_replicas must be in [1, 5]";
  return "";
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "tailgate: %s\n", message.c_str());
  return 2;
}

std::string RetentionSummary(const tailgate::store::RetentionRule& rule) {
  return absl::StrCat(
      rule.max_age == absl::ZeroDuration() ? std::string("no age limit")
                                           : absl::FormatDuration(rule.max_age),
      "/", rule.max_events == 0 ? std::string("no count limit")
                                : absl::StrCat(rule.max_events, " events"));
}

}  // namespace

int main(int argc, char** argv) {
  // Large buffers (request data, RocksDB arenas) get their own mappings and
  // go back to the system when freed; glibc's default raises this threshold
  // as large blocks are freed, after which a burst stays in RSS for good.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // First: every relative path below (--flagfile, --data_dir, TLS and key
  // files) is the user's, also under `bazel run` (working_dir.h).
  if (std::string error = tailgate::EnterBuildWorkingDirectory(); !error.empty()) {
    return Fail(error);
  }
  // --help lists this file's flags (absl's default looks for a file named
  // after the binary); --version prints the version.
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "gateway/server/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  usage_config.version_string = [] { return std::string("tailgate ") + tailgate::kVersion + "\n"; };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "tailgate: publish events over gRPC, stream them to browsers as Server-Sent Events.\n"
      "Usage: tailgate [--flag=value ...]");
  // Unknown flags and unparsable values exit 2 with the flag named (absl
  // alone would exit 1).
  if (absl::Status s = tailgate::PrecheckFlags(argc, argv); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built without NDEBUG, which leaves absl::Mutex's
  // lock-order graph on: a few percent of the publish path's CPU spent on a
  // debugging aid. The tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  absl::StatusOr<tailgate::LogLevel> level = tailgate::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) return Fail("--log_level: " + std::string(level.status().message()));
  const std::string log_format = absl::GetFlag(FLAGS_log_format);
  if (log_format != "text" && log_format != "json") {
    return Fail("--log_format must be text or json, got '" + log_format + "'");
  }
  tailgate::SetLogOptions({*level, log_format == "json" || absl::GetFlag(FLAGS_log_json)});

  tailgate::Config config;
  config.http.listen = absl::GetFlag(FLAGS_http_listen);
  config.http.threads = absl::GetFlag(FLAGS_http_threads);
  if (config.http.threads < 0) return Fail("--http_threads must be >= 0");
  config.grpc.listen = absl::GetFlag(FLAGS_grpc_listen);
  config.store.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (std::string error = StoreFlags(&config); !error.empty()) return Fail(error);
  absl::StatusOr<tailgate::store::Durability> durability =
      tailgate::store::ParseDurability(absl::GetFlag(FLAGS_durability));
  if (!durability.ok()) return Fail("--" + std::string(durability.status().message()));
  config.store.durability = *durability;
  config.store.dedup_window = absl::GetFlag(FLAGS_dedup_window);
  if (config.store.dedup_window < absl::ZeroDuration()) return Fail("--dedup_window must be >= 0");
  const int64_t max_data = absl::GetFlag(FLAGS_max_data_bytes);
  const int64_t max_batch = absl::GetFlag(FLAGS_max_batch_events);
  const int64_t max_request = absl::GetFlag(FLAGS_max_request_bytes);
  const int64_t max_inflight = absl::GetFlag(FLAGS_max_inflight_per_stream);
  if (max_data < 1 || max_data > (int64_t{1} << 30)) {
    return Fail("--max_data_bytes must be in [1, 1073741824]");
  }
  if (max_batch < 1) return Fail("--max_batch_events must be >= 1");
  if (max_request < 1 || max_request > INT32_MAX) {
    return Fail("--max_request_bytes must be in [1, 2147483647]");
  }
  if (max_inflight < 1) return Fail("--max_inflight_per_stream must be >= 1");
  const int64_t budget = absl::GetFlag(FLAGS_publish_memory_budget);
  if (budget < (int64_t{1} << 20)) return Fail("--publish_memory_budget must be >= 1048576 (1 MiB)");
  config.publish.memory_budget_bytes = static_cast<size_t>(budget);
  config.publish.max_data_bytes = static_cast<size_t>(max_data);
  config.publish.max_batch_events = static_cast<size_t>(max_batch);
  config.publish.max_request_bytes = static_cast<size_t>(max_request);
  config.publish.max_inflight_per_stream = static_cast<size_t>(max_inflight);
  config.store.max_data_bytes = config.publish.max_data_bytes;
  config.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  const int64_t retry_ms = absl::GetFlag(FLAGS_retry_ms);
  if (retry_ms < 0) return Fail("--retry_ms must be >= 0");
  config.sse.retry = absl::Milliseconds(retry_ms);
  config.sse.heartbeat = absl::GetFlag(FLAGS_heartbeat);
  if (config.sse.heartbeat <= absl::ZeroDuration()) return Fail("--heartbeat must be > 0");
  for (absl::string_view origin :
       absl::StrSplit(absl::GetFlag(FLAGS_cors_origins), ',', absl::SkipWhitespace())) {
    config.sse.cors_origins.emplace_back(absl::StripAsciiWhitespace(origin));
  }
  config.sse.cors_credentials = absl::GetFlag(FLAGS_cors_credentials);
  // Any origin with credentials would let every site read a logged-in user's
  // stream (the origin is echoed with Allow-Credentials): refuse, do not guess.
  if (config.sse.cors_credentials &&
      std::find(config.sse.cors_origins.begin(), config.sse.cors_origins.end(), "*") !=
          config.sse.cors_origins.end()) {
    return Fail("--cors_origins=* cannot be combined with --cors_credentials (any site could "
                "read a logged-in user's stream); list the allowed origins instead");
  }
  config.http.max_connections = absl::GetFlag(FLAGS_max_connections);
  if (config.http.max_connections < 1) return Fail("--max_connections must be >= 1");
  config.sse.write_timeout = absl::GetFlag(FLAGS_write_timeout);
  if (config.sse.write_timeout <= absl::ZeroDuration()) return Fail("--write_timeout must be > 0");
  config.http.write_timeout = config.sse.write_timeout;
  if (const std::string h2 = absl::GetFlag(FLAGS_http2); h2 == "on" || h2 == "off") {
    config.http.http2 = h2 == "on";
  } else {
    return Fail("--http2 must be on or off");
  }
  config.http.http2_max_streams = absl::GetFlag(FLAGS_http2_max_streams);
  if (config.http.http2_max_streams < 1) return Fail("--http2_max_streams must be >= 1");
  config.http.http2_max_resets_per_second = absl::GetFlag(FLAGS_http2_max_resets);
  if (config.http.http2_max_resets_per_second < 0) return Fail("--http2_max_resets must be >= 0");
  const int64_t cache_events = absl::GetFlag(FLAGS_tail_cache_events);
  const int64_t cache_bytes = absl::GetFlag(FLAGS_tail_cache_bytes);
  if (cache_events < 0 || cache_bytes < 0) {
    return Fail("--tail_cache_events and --tail_cache_bytes must be >= 0");
  }
  config.sse.tail_cache_events = static_cast<size_t>(cache_events);
  config.sse.tail_cache_bytes = static_cast<size_t>(cache_bytes);
  if (config.drain_timeout < absl::ZeroDuration()) return Fail("--drain_timeout must be >= 0");
  if (config.grpc.listen.empty()) return Fail("--grpc_listen must not be empty");
  if (config.http.listen.empty()) return Fail("--http_listen must not be empty");
  if (config.store_backend == tailgate::Config::StoreBackend::kRocksDb &&
      config.store.data_dir.empty()) {
    return Fail("--data_dir must not be empty");
  }

  // Operations.
  config.ops.admin = absl::GetFlag(FLAGS_admin);
  config.ops.metrics_topics = absl::GetFlag(FLAGS_metrics_topics);
  const int64_t topics_limit = absl::GetFlag(FLAGS_metrics_topics_limit);
  if (topics_limit < 1 || topics_limit > 10000) {
    return Fail("--metrics_topics_limit must be in [1, 10000]");
  }
  config.ops.metrics_topics_limit = static_cast<size_t>(topics_limit);
  config.ops.metrics_subscribers = absl::GetFlag(FLAGS_metrics_subscribers);
  const int64_t subscribers_limit = absl::GetFlag(FLAGS_metrics_subscribers_limit);
  if (subscribers_limit < 1 || subscribers_limit > 10000) {
    return Fail("--metrics_subscribers_limit must be in [1, 10000]");
  }
  config.ops.metrics_subscribers_limit = static_cast<size_t>(subscribers_limit);
  config.ops.revocations_file = absl::GetFlag(FLAGS_revocations_file);
  config.ops.stats_interval = absl::GetFlag(FLAGS_metrics_interval);
  if (config.ops.stats_interval <= absl::ZeroDuration()) {
    return Fail("--metrics_interval must be > 0");
  }
  config.ops.slow_commit = absl::GetFlag(FLAGS_slow_commit);
  if (config.ops.slow_commit < absl::ZeroDuration()) return Fail("--slow_commit must be >= 0");
  config.ops.drain_grace = absl::GetFlag(FLAGS_drain_grace);
  if (config.ops.drain_grace < absl::ZeroDuration()) return Fail("--drain_grace must be >= 0");

  // Retention.
  absl::StatusOr<std::vector<tailgate::store::RetentionRule>> rules =
      tailgate::ParseRetentionRules(absl::GetFlag(FLAGS_retention));
  if (!rules.ok()) return Fail("--retention: " + std::string(rules.status().message()));
  config.store.retention_rules = *std::move(rules);
  absl::StatusOr<absl::Duration> default_age =
      tailgate::ParseRetentionAge(absl::GetFlag(FLAGS_retention_default_age));
  if (!default_age.ok()) {
    return Fail("--retention_default_age: " + std::string(default_age.status().message()));
  }
  const int64_t default_events = absl::GetFlag(FLAGS_retention_default_events);
  if (default_events < 0) return Fail("--retention_default_events must be >= 0");
  const int64_t max_bytes = absl::GetFlag(FLAGS_retention_max_bytes);
  if (max_bytes < 0) return Fail("--retention_max_bytes must be >= 0");
  config.store.default_retention = tailgate::store::RetentionRule{
      ">", static_cast<uint64_t>(default_events), *default_age};
  config.store.max_total_bytes = static_cast<uint64_t>(max_bytes);  // 0 = no cap
  config.store.retention_interval = absl::GetFlag(FLAGS_retention_interval);
  if (config.store.retention_interval <= absl::ZeroDuration()) {
    return Fail("--retention_interval must be > 0");
  }

  config.http.header_timeout = absl::GetFlag(FLAGS_http_header_timeout);
  if (config.http.header_timeout <= absl::ZeroDuration()) {
    return Fail("--http_header_timeout must be > 0");
  }
  if (std::string error = SecurityFlags(&config); !error.empty()) return Fail(error);
  if (std::string error = HttpPublishFlags(&config); !error.empty()) return Fail(error);
  if (std::string error = JwksFlags(&config.auth); !error.empty()) return Fail(error);

  // Block the stop signals in every thread; this one waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A peer that goes away mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  TG_LOG(INFO) << "tailgate " << tailgate::kVersion << " starting: store="
               << absl::GetFlag(FLAGS_store)
               << (config.store_backend == tailgate::Config::StoreBackend::kJetStream
                       // --durability is RocksDB's: JetStream's replicas decide there.
                       ? " nats_url=" + config.jetstream.url + " nats_stream=" +
                             config.jetstream.stream +
                             " replicas=" + std::to_string(config.jetstream.replicas)
                       : " data_dir=" + config.store.data_dir + " durability=" +
                             std::string(tailgate::store::DurabilityName(config.store.durability)))
               << " http_listen=" << config.http.listen << " grpc_listen=" << config.grpc.listen
               << " max_connections=" << config.http.max_connections
               << " admin=" << (config.ops.admin ? "on" : "off") << " retention: default "
               << RetentionSummary(config.store.default_retention) << ", "
               << config.store.retention_rules.size() << " rule(s)"
               << (absl::GetFlag(FLAGS_retention).empty() ? ""
                                                          : " " + absl::GetFlag(FLAGS_retention))
               << ", max_bytes="
               << (max_bytes == 0 ? std::string("none") : std::to_string(max_bytes));
  absl::StatusOr<std::unique_ptr<tailgate::Gateway>> gateway = tailgate::Gateway::Start(config);
  if (!gateway.ok()) {
    // A flag the gateway could not use is a usage error (2, like the flag
    // checks above); anything else (a full disk, a port in use) is 1.
    const absl::StatusCode code = gateway.status().code();
    const bool usage = code == absl::StatusCode::kInvalidArgument ||
                       code == absl::StatusCode::kFailedPrecondition;
    std::fprintf(stderr, "tailgate: %s\n", std::string(gateway.status().message()).c_str());
    return usage ? 2 : 1;
  }
  TG_LOG(INFO) << "tailgate ready http=" << (*gateway)->http_address()
               << " grpc=" << (*gateway)->grpc_address();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  TG_LOG(INFO) << "received " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", shutting down";
  (*gateway)->Shutdown();
  return 0;
}

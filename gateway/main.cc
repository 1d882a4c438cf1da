// tailgate: gRPC publish -> durable log -> Server-Sent Events.
// Wiring and flags only: flags become a Config, everything else lives in libraries.
#include <pthread.h>
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/logging.h"

ABSL_FLAG(std::string, http_listen, "127.0.0.1:8080",
          "HTTP/SSE listen address, HOST:PORT or [IPV6]:PORT; port 0 picks a free port");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:50051",
          "gRPC listen address, HOST:PORT or [IPV6]:PORT; port 0 picks a free port");
ABSL_FLAG(std::string, data_dir, "./tailgate-data", "directory of the event log (created if missing)");
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
ABSL_FLAG(int64_t, retry_ms, 3000,
          "SSE \"retry:\" sent at the start of each stream (client reconnect delay, ms); 0 = none");
ABSL_FLAG(absl::Duration, heartbeat, absl::Seconds(15),
          "SSE comment line sent on a stream idle this long");
ABSL_FLAG(std::string, cors_origins, "",
          "CORS origins allowed to subscribe: comma-separated exact origins, or * for any; "
          "empty = no CORS headers");
ABSL_FLAG(bool, cors_credentials, false,
          "send Access-Control-Allow-Credentials: true (the origin is echoed, never *)");
ABSL_FLAG(int, max_connections, 10000,
          "open HTTP connections (SSE streams included); beyond it requests get 503");
ABSL_FLAG(absl::Duration, write_timeout, absl::Seconds(30),
          "an SSE write not completing within this drops the peer");
ABSL_FLAG(int64_t, tail_cache_events, 100000, "recent encoded events kept in memory for fan-out");
ABSL_FLAG(int64_t, tail_cache_bytes, int64_t{64} << 20,
          "memory bound of the tail cache in bytes");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error");
ABSL_FLAG(bool, log_json, false, "write logs as JSON lines");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "tailgate: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tailgate: publish events over gRPC, stream them to browsers as Server-Sent Events.\n"
      "Usage: tailgate [--flag=value ...]");
  absl::ParseCommandLine(argc, argv);

  absl::StatusOr<tailgate::LogLevel> level = tailgate::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) return Fail("--log_level: " + std::string(level.status().message()));
  tailgate::SetLogOptions({*level, absl::GetFlag(FLAGS_log_json)});

  tailgate::Config config;
  config.http.listen = absl::GetFlag(FLAGS_http_listen);
  config.http.threads = absl::GetFlag(FLAGS_http_threads);
  if (config.http.threads < 0) return Fail("--http_threads must be >= 0");
  config.grpc.listen = absl::GetFlag(FLAGS_grpc_listen);
  config.store.data_dir = absl::GetFlag(FLAGS_data_dir);
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
  config.http.max_connections = absl::GetFlag(FLAGS_max_connections);
  if (config.http.max_connections < 1) return Fail("--max_connections must be >= 1");
  config.sse.write_timeout = absl::GetFlag(FLAGS_write_timeout);
  if (config.sse.write_timeout <= absl::ZeroDuration()) return Fail("--write_timeout must be > 0");
  const int64_t cache_events = absl::GetFlag(FLAGS_tail_cache_events);
  const int64_t cache_bytes = absl::GetFlag(FLAGS_tail_cache_bytes);
  if (cache_events < 0 || cache_bytes < 0) {
    return Fail("--tail_cache_events and --tail_cache_bytes must be >= 0");
  }
  config.sse.tail_cache_events = static_cast<size_t>(cache_events);
  config.sse.tail_cache_bytes = static_cast<size_t>(cache_bytes);
  if (config.drain_timeout < absl::ZeroDuration()) return Fail("--drain_timeout must be >= 0");

  // Block the stop signals in every thread; this one waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A peer that goes away mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<tailgate::Gateway>> gateway = tailgate::Gateway::Start(config);
  if (!gateway.ok()) return Fail(std::string(gateway.status().ToString()));
  TG_LOG(INFO) << "tailgate ready http=" << (*gateway)->http_address()
               << " grpc=" << (*gateway)->grpc_address();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  TG_LOG(INFO) << "received " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", shutting down";
  (*gateway)->Shutdown();
  return 0;
}

// tailgate: gRPC publish -> durable log -> Server-Sent Events.
// Wiring and flags only: flags become a Config, everything else lives in libraries.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
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
  config.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
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

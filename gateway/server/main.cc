// tailgate: gRPC publish -> durable log -> Server-Sent Events.
// Wiring only: the flags become a ServerConfig (config.h), the Gateway
// (gateway.h) serves it until SIGTERM or SIGINT.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/diag/logging.h"
#include "gateway/heap/heap.h"
#include "gateway/server/config.h"
#include "gateway/server/flag_precheck.h"
#include "gateway/server/gateway.h"
#include "gateway/server/version.h"
#include "gateway/server/working_dir.h"

namespace {

// A usage error: exit 2 with the message.
int Fail(absl::string_view message) {
  std::fprintf(stderr, "tailgate: %s\n", std::string(message).c_str());
  return 2;
}

std::string RetentionSummary(const tailgate::store::RetentionRule& rule) {
  return absl::StrCat(
      rule.max_age == absl::ZeroDuration() ? std::string("no age limit")
                                           : absl::FormatDuration(rule.max_age),
      "/", rule.max_events == 0 ? std::string("no count limit")
                                : absl::StrCat(rule.max_events, " events"));
}

// What the "starting" line says about the configuration.
std::string StartupSummary(const tailgate::ServerConfig& server) {
  const tailgate::Config& config = server.gateway;
  const bool jetstream = config.store_backend == tailgate::Config::StoreBackend::kJetStream;
  return absl::StrCat(
      "store=", jetstream ? "jetstream" : "rocksdb",
      // --durability is RocksDB's: JetStream's replicas decide there.
      jetstream ? absl::StrCat(" nats_url=", config.jetstream.url, " nats_stream=",
                               config.jetstream.stream, " replicas=", config.jetstream.replicas)
                : absl::StrCat(" data_dir=", config.store.data_dir, " durability=",
                               std::string(tailgate::store::DurabilityName(config.store.durability))),
      " http_listen=", config.http.listen, " grpc_listen=", config.grpc.listen,
      " max_connections=", config.http.max_connections, " admin=", config.ops.admin ? "on" : "off",
      " retention: default ", RetentionSummary(config.store.default_retention), ", ",
      config.store.retention_rules.size(), " rule(s)",
      server.retention_text.empty() ? "" : " " + server.retention_text, ", max_bytes=",
      config.store.max_total_bytes == 0 ? std::string("none")
                                        : std::to_string(config.store.max_total_bytes));
}

}  // namespace

int main(int argc, char** argv) {
  tailgate::ConfigureHeap();
  // First: every relative path below (--flagfile, --data_dir, TLS and key
  // files) is the user's, also under `bazel run` (working_dir.h).
  if (std::string error = tailgate::EnterBuildWorkingDirectory(); !error.empty()) {
    return Fail(error);
  }
  // --help lists the flags of config.cc; --version prints the version.
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = tailgate::IsServerFlagsFile;
  usage_config.contains_helpshort_flags = tailgate::IsServerFlagsFile;
  usage_config.version_string = [] { return std::string("tailgate ") + tailgate::kVersion + "\n"; };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "tailgate: publish events over gRPC, stream them to browsers as Server-Sent Events.\n"
      "Usage: tailgate [--flag=value ...]");
  if (absl::Status s = tailgate::PrecheckFlags(argc, argv); !s.ok()) return Fail(s.message());
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built without NDEBUG, which leaves absl::Mutex's
  // lock-order graph on: a few percent of the publish path's CPU spent on a
  // debugging aid. The tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::StatusOr<tailgate::ServerConfig> config = tailgate::ConfigFromFlags();
  if (!config.ok()) return Fail(config.status().message());
  tailgate::SetLogOptions(config->log);

  // Block the stop signals in every thread; this one waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A peer that goes away mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  TG_LOG(INFO) << "tailgate " << tailgate::kVersion << " starting: " << StartupSummary(*config)
               << " allocator=" << tailgate::HeapAllocatorName();
  absl::StatusOr<std::unique_ptr<tailgate::Gateway>> gateway =
      tailgate::Gateway::Start(config->gateway);
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

#include "tests/testing/test_store.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/testing/nats_server.h"
#include "tests/testing/process.h"

namespace tailgate::testing {
namespace {

NatsServer& SharedNatsServer() {
  // Destroyed (SIGKILLed) at exit, after every test has closed its gateway.
  static NatsServer server;
  return server;
}

}  // namespace

Config::StoreBackend SelectedTestStore() {
  const char* env = std::getenv("TAILGATE_TEST_STORE");
  const std::string_view name = env == nullptr ? "" : env;
  if (name.empty() || name == "rocksdb") return Config::StoreBackend::kRocksDb;
  if (name == "jetstream") return Config::StoreBackend::kJetStream;
  std::fprintf(stderr, "TAILGATE_TEST_STORE: want rocksdb or jetstream, got \"%s\"\n", env);
  std::abort();
}

void UseFreshTestStore(Config& config, const std::string& dir_prefix) {
  config.store.data_dir = MakeTempDir(dir_prefix);
  // Ids from 1 on both backends, so that tests can name ids below and above
  // the log's (the binary's tests run with the default, ids from the clock).
  config.store.first_id_from_clock = false;
  config.store_backend = SelectedTestStore();
  if (config.store_backend != Config::StoreBackend::kJetStream) return;
  // A new stream and subject space per log: the server outlives tests, so
  // sharing either would leak one test's events (and ids) into the next.
  static int streams = 0;
  const int n = streams++;
  config.jetstream.url = SharedNatsServer().url();
  config.jetstream.stream = "T" + std::to_string(n);
  config.jetstream.subject_prefix = "t" + std::to_string(n);
  // JetStream reserves a stream's byte limit on the server up front; the
  // 10 GiB default times dozens of streams would exceed the server's store
  // limit (by default most of the free disk). 64 MiB holds everything one
  // test publishes.
  config.store.max_total_bytes = uint64_t{64} << 20;
}

}  // namespace tailgate::testing

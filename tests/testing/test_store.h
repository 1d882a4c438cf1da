// Test support: the log backend an in-process gateway suite runs on.
//
// The SSE, Subscribe and Publisher suites are built twice from the same
// sources (cc_test_on_every_backend in bazel/backends.bzl): once on RocksDB and
// once with TAILGATE_TEST_STORE=jetstream in the test environment, so one
// suite checks that both backends honour the same SSE/gRPC contract.
//
// Every call of UseFreshTestStore gives an empty log: a new data dir under
// TEST_TMPDIR (RocksDB) or a new stream and subject prefix on one
// nats-server -js that the whole test binary shares (JetStream). The server
// starts on first use and is killed at exit; one server per test would add
// its start-up to every test on a small CI machine.
//
// Not thread-safe: call from the test thread.
#ifndef TAILGATE_TESTS_TESTING_TEST_STORE_H_
#define TAILGATE_TESTS_TESTING_TEST_STORE_H_

#include <string>

#include "gateway/config.h"

namespace tailgate::testing {

// The backend TAILGATE_TEST_STORE names: unset, "" or "rocksdb" is RocksDB,
// "jetstream" is JetStream. Any other value aborts the binary, so a typo in
// a BUILD file cannot quietly run the RocksDB suite twice.
Config::StoreBackend SelectedTestStore();

inline bool OnJetStream() { return SelectedTestStore() == Config::StoreBackend::kJetStream; }

// Points `config` at a fresh, empty log of the selected backend. dir_prefix
// names the RocksDB data dir (it is set for JetStream too, where it is
// unused, so tests may still refer to it).
void UseFreshTestStore(Config& config, const std::string& dir_prefix);

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_TESTING_TEST_STORE_H_

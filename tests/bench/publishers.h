// The publishing side of the benchmark load generator, one implementation per
// API: tailgate over gRPC (PublishStream, PublishBatch), HTTP publishing
// (nchan's publisher location, tailgate's POST /v1/publish; pipelined POSTs),
// and Redis Streams (XADD, pipelined, through hiredis) as the durable ingest
// peer.
//
// Thread-safety: one thread drives a Publisher; Flood and FloodBatches start
// and join their own threads.
#ifndef TAILGATE_TESTS_BENCH_PUBLISHERS_H_
#define TAILGATE_TESTS_BENCH_PUBLISHERS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tests/bench/bench_util.h"

namespace tailgate::bench {

class Publisher {
 public:
  virtual ~Publisher() = default;
  // Publishes `n` events back to back (one request each) and returns when
  // all are acknowledged.
  virtual void Burst(const std::string& topic, int n) = 0;
  // One event every 1/rate s for `seconds`, not waiting for acks between
  // them; returns the number acknowledged.
  virtual uint64_t Paced(const std::string& topic, int rate, double seconds) = 0;
  // As fast as acks come back, `conns` streams/connections with `window`
  // requests in flight each; returns the number acknowledged.
  virtual uint64_t Flood(const std::string& topic, double seconds, int conns, int window) = 0;
  // As fast as acks come back: `conns` connections, each with one call of
  // `batch` events in flight; returns the number of events acknowledged.
  virtual uint64_t FloodBatches(const std::string& topic, double seconds, int conns, int batch) = 0;
};

std::unique_ptr<Publisher> NewTailgatePublisher(std::string grpc_address, size_t data_bytes);
// nchan's publisher location, or (tailgate = true) tailgate's POST /v1/publish.
std::unique_ptr<Publisher> NewHttpPublisher(HostPort http, bool tailgate, size_t data_bytes);
// Ingest only (Flood): XADD TOPIC * d DATA, `window` pipelined per connection,
// each acknowledged when Redis answers (after its fsync with appendfsync always).
std::unique_ptr<Publisher> NewRedisPublisher(HostPort redis, size_t data_bytes);

}  // namespace tailgate::bench

#endif  // TAILGATE_TESTS_BENCH_PUBLISHERS_H_

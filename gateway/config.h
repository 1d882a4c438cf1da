// The gateway's configuration: parsed from flags in main.cc and passed down.
// Libraries read only this struct, never flags or globals.
#ifndef TAILGATE_GATEWAY_CONFIG_H_
#define TAILGATE_GATEWAY_CONFIG_H_

#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "store/log.h"

namespace tailgate {

struct HttpConfig {
  std::string listen = "127.0.0.1:8080";
  int threads = 0;  // 0 = one per core.
  size_t max_header_bytes = 16 * 1024;
  absl::Duration header_timeout = absl::Seconds(10);
};

struct GrpcConfig {
  std::string listen = "127.0.0.1:50051";
};

struct Config {
  HttpConfig http;
  GrpcConfig grpc;
  store::Options store;  // store.data_dir is --data_dir.
  // Upper bound on a graceful shutdown before connections are cut.
  absl::Duration drain_timeout = absl::Seconds(10);
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_CONFIG_H_

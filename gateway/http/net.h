// Listen-address parsing shared by the HTTP and gRPC listeners.
#ifndef TAILGATE_GATEWAY_HTTP_NET_H_
#define TAILGATE_GATEWAY_HTTP_NET_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tailgate {

struct HostPort {
  std::string host;  // Without brackets for IPv6, e.g. "::1".
  uint16_t port = 0;
};

// Parses "HOST:PORT" or "[V6]:PORT"; port 0 asks the kernel for a free port.
// INVALID_ARGUMENT naming `flag` when malformed.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text, std::string_view flag);

// "127.0.0.1:80" or "[::1]:80".
std::string FormatHostPort(std::string_view host, uint16_t port);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_HTTP_NET_H_

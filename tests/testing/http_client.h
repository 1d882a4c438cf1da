// Test support: a small blocking HTTP/1.1 client over loopback (Boost.Beast).
#ifndef TAILGATE_TESTS_TESTING_HTTP_CLIENT_H_
#define TAILGATE_TESTS_TESTING_HTTP_CLIENT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tailgate::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
};

// One request on a fresh connection to host:port; returns the whole response.
// A non-empty `body` is sent with its Content-Length.
absl::StatusOr<HttpResult> HttpFetch(const std::string& host, int port, const std::string& method,
                                     const std::string& target,
                                     const std::vector<std::pair<std::string, std::string>>&
                                         headers = {},
                                     const std::string& body = "");

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_TESTING_HTTP_CLIENT_H_

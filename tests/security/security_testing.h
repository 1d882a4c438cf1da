// Test support for tests/security: JWT claims (signing: tests/testing/jwt_testing.h),
// and a test-made PKI (CA, server and client certificates) from the openssl CLI.
#ifndef TAILGATE_TESTS_SECURITY_SECURITY_TESTING_H_
#define TAILGATE_TESTS_SECURITY_SECURITY_TESTING_H_

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "tests/testing/jwt_testing.h"

namespace tailgate::testing {

struct ClaimSpec {
  std::vector<std::string> subscribe;
  std::vector<std::string> publish;
  bool admin = false;
  absl::Time exp = absl::Now() + absl::Hours(1);
  std::optional<absl::Time> nbf;
  std::string sub = "test-client";
};

inline std::string Claims(const ClaimSpec& c) {
  auto list = [](const std::vector<std::string>& v) {
    std::vector<std::string> quoted;
    for (const std::string& s : v) quoted.push_back(absl::StrCat("\"", s, "\""));
    return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
  };
  std::string out = absl::StrCat(R"({"sub":")", c.sub, R"(","exp":)", absl::ToUnixSeconds(c.exp));
  if (c.nbf) absl::StrAppend(&out, R"(,"nbf":)", absl::ToUnixSeconds(*c.nbf));
  absl::StrAppend(&out, R"(,"tailgate":{"subscribe":)", list(c.subscribe), R"(,"publish":)",
                  list(c.publish), R"(,"admin":)", c.admin ? "true" : "false", "}}");
  return out;
}

inline std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A CA, a server certificate for localhost / 127.0.0.1, a client
// certificate from the CA and a self-signed (rogue) client certificate,
// made with the openssl CLI in `dir`.
struct Pki {
  std::string dir;
  std::string ca_cert, server_cert, server_key, client_cert, client_key, rogue_cert, rogue_key;
};

inline Pki MakePki(const std::string& dir) {
  Pki p;
  p.dir = dir;
  p.ca_cert = dir + "/ca.pem";
  p.server_cert = dir + "/server.pem";
  p.server_key = dir + "/server.key";
  p.client_cert = dir + "/client.pem";
  p.client_key = dir + "/client.key";
  p.rogue_cert = dir + "/rogue.pem";
  p.rogue_key = dir + "/rogue.key";
  const std::string script = absl::StrCat(
      "set -e; cd '", dir, "';",
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
      "-out ca.pem -days 2 -subj /CN=tailgate-test-ca 2>/dev/null;",
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > "
      "server.ext;",
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key "
      "-out server.csr -subj /CN=localhost 2>/dev/null;",
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
      "-days 2 -extfile server.ext 2>/dev/null;",
      "printf 'extendedKeyUsage=clientAuth\\n' > client.ext;",
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key "
      "-out client.csr -subj /CN=publisher 2>/dev/null;",
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem "
      "-days 2 -extfile client.ext 2>/dev/null;",
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue.key "
      "-out rogue.pem -days 2 -subj /CN=publisher 2>/dev/null;");
  {
    std::ofstream(dir + "/make_pki.sh") << script << "\n";
  }
  const int rc = std::system(("bash '" + dir + "/make_pki.sh'").c_str());
  EXPECT_EQ(rc, 0) << "openssl CLI failed";
  return p;
}

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_SECURITY_SECURITY_TESTING_H_

// Test support for tests/security: JWT signing with test-made keys, and a
// test-made PKI (CA, server and client certificates) from the openssl CLI.
#ifndef TAILGATE_TESTS_SECURITY_SECURITY_TESTING_H_
#define TAILGATE_TESTS_SECURITY_SECURITY_TESTING_H_

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace tailgate::testing {

inline std::string B64Url(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

inline Pkey NewRsaKey() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})); }

inline std::string PublicPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

inline std::string SignHs256(std::string_view header, std::string_view payload,
                             std::string_view secret) {
  const std::string input = B64Url(header) + "." + B64Url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + B64Url(std::string_view(reinterpret_cast<char*>(mac), len));
}

inline std::string SignRs256(std::string_view header, std::string_view payload, EVP_PKEY* key) {
  const std::string input = B64Url(header) + "." + B64Url(payload);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return input + "." + B64Url(sig);
}

inline constexpr std::string_view kRs256Header = R"({"alg":"RS256","typ":"JWT"})";
inline constexpr std::string_view kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

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

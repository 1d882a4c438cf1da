// JWT keys from a JWKS: the document parser, and a real gateway whose keys
// come from a local HTTPS server (openssl s_server -WWW with a test-made CA)
// or a file: rotation by kid, removed keys refused, the provider down with
// cached keys still working, file reloads. Tokens are checked through POST
// /v1/publish (--http_publish=on) and gRPC Publish.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateway/server/gateway.h"
#include "gateway/auth/jwks.h"
#include "gateway/diag/metrics.h"
#include "tailgate/v1/publisher.grpc.pb.h"
#include "tests/security/security_testing.h"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"
#include "tests/testing/test_store.h"

namespace tailgate::testing {
namespace {

std::string BnParam(EVP_PKEY* key, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1) << name;
  std::string out(pad > 0 ? pad : BN_num_bytes(bn), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return Base64Url(out);
}

std::string RsaJwk(EVP_PKEY* key, const std::string& kid) {
  return absl::StrCat(R"({"kty":"RSA","use":"sig","alg":"RS256","kid":")", kid, R"(","n":")",
                      BnParam(key, OSSL_PKEY_PARAM_RSA_N), R"(","e":")",
                      BnParam(key, OSSL_PKEY_PARAM_RSA_E), "\"}");
}

std::string EcJwk(EVP_PKEY* key, const std::string& kid) {
  return absl::StrCat(R"({"kty":"EC","crv":"P-256","kid":")", kid, R"(","x":")",
                      BnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, 32), R"(","y":")",
                      BnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32), "\"}");
}

std::string Jwks(const std::vector<std::string>& jwks) {
  return absl::StrCat(R"({"keys":[)", absl::StrJoin(jwks, ","), "]}");
}

// Replaces `path` atomically (a reader sees the old or the new document).
void WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << text;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

std::string TestDir(const std::string& name) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name, "XXXXXX");
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

TEST(ParseJwksTest, RsaAndEcKeysMatchTheirPem) {
  Pkey rsa = NewRsaKey();
  Pkey ec = NewEcKey("P-256");
  absl::StatusOr<ParsedJwks> parsed =
      ParseJwks(Jwks({RsaJwk(rsa.get(), "r1"), EcJwk(ec.get(), "e1")}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->keys.size(), 2u) << absl::StrJoin(parsed->skipped, "; ");
  EXPECT_EQ(parsed->keys[0].kid, "r1");
  EXPECT_EQ(parsed->keys[0].pem, PublicPem(rsa.get()));
  EXPECT_EQ(parsed->keys[1].kid, "e1");
  EXPECT_EQ(parsed->keys[1].pem, PublicPem(ec.get()));
}

TEST(ParseJwksTest, SkipsWhatItCannotTrust) {
  Pkey rsa = NewRsaKey();
  std::string enc = RsaJwk(rsa.get(), "enc");
  enc.replace(enc.find("\"use\":\"sig\""), 11, "\"use\":\"enc\"");
  std::string priv = RsaJwk(rsa.get(), "priv");
  priv.insert(priv.size() - 1, R"(,"d":"AQAB")");
  absl::StatusOr<ParsedJwks> parsed = ParseJwks(Jwks({
      enc, priv, R"({"kty":"oct","kid":"hmac","k":"c2VjcmV0"})",
      R"({"kty":"RSA","kid":"bad","n":"!!","e":"AQAB"})",
      R"({"kty":"EC","kid":"off-curve","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"})",
      RsaJwk(rsa.get(), "good")}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->keys.size(), 1u);
  EXPECT_EQ(parsed->keys[0].kid, "good");
  const std::string skipped = absl::StrJoin(parsed->skipped, "\n");
  EXPECT_EQ(parsed->skipped.size(), 5u) << skipped;
  EXPECT_TRUE(absl::StrContains(skipped, "kid \"enc\"): not a signing key")) << skipped;
  EXPECT_TRUE(absl::StrContains(skipped, "private key material")) << skipped;
  EXPECT_TRUE(absl::StrContains(skipped, "key type 'oct' is not supported")) << skipped;
  EXPECT_TRUE(absl::StrContains(skipped, "'n' is not base64url")) << skipped;
  EXPECT_TRUE(absl::StrContains(skipped, "kid \"off-curve\"): OpenSSL refused")) << skipped;
  EXPECT_FALSE(ParseJwks("{").ok());
  EXPECT_FALSE(ParseJwks(R"({"kids":[]})").ok());
}

class JwksGatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_a_ = NewRsaKey().release();
    key_b_ = NewRsaKey().release();
    key_c_ = NewRsaKey().release();
  }
  static void TearDownTestSuite() {
    for (EVP_PKEY* k : {key_a_, key_b_, key_c_}) EVP_PKEY_free(k);
  }

  Config BaseConfig() {
    Config c;
    c.http.listen = "127.0.0.1:0";
    c.http.threads = 1;
    c.grpc.listen = "127.0.0.1:0";
    UseFreshTestStore(c, "jwks");
    c.auth.publish_required = true;
    c.auth.algorithms = {"RS256"};
    c.publish.http_mode = PublishConfig::HttpMode::kOn;
    return c;
  }

  void StartGateway(const Config& c) {
    absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(c);
    ASSERT_TRUE(gw.ok()) << gw.status();
    gw_ = *std::move(gw);
  }

  static std::string Token(EVP_PKEY* key, const std::string& kid) {
    ClaimSpec claims;
    claims.publish = {"jwks.>"};
    return SignRs256(absl::StrCat(R"({"alg":"RS256","typ":"JWT","kid":")", kid, "\"}"),
                     Claims(claims), key);
  }

  HttpResult Publish(const std::string& token) {
    absl::StatusOr<HttpResult> r = HttpFetch(
        "127.0.0.1", gw_->http_port(), "POST", "/v1/publish",
        {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}},
        R"({"topic":"jwks.t","data":"x"})");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResult{};
  }

  // Publishes until accepted: each refusal of an unknown kid asks for a
  // fetch, so this waits for the rotation to arrive (bounded).
  bool AcceptedWithin(const std::string& token, absl::Duration limit = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + limit;
    while (absl::Now() < deadline) {
      if (Publish(token).status == 200) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  uint64_t Refreshes(const std::string& result) {
    const std::string m = gw_->metrics()->Render();
    const std::string prefix = absl::StrCat("tailgate_jwks_refresh_total{result=\"", result, "\"} ");
    const size_t at = m.find(prefix);
    uint64_t v = 0;
    if (at != std::string::npos) {
      EXPECT_TRUE(absl::SimpleAtoi(m.substr(at + prefix.size(), m.find('\n', at) - at - prefix.size()), &v));
    }
    return v;
  }

  bool RefreshFailedWithin(uint64_t before, absl::Duration limit = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + limit;
    while (absl::Now() < deadline) {
      if (Refreshes("error") > before) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  static EVP_PKEY* key_a_;
  static EVP_PKEY* key_b_;
  static EVP_PKEY* key_c_;
  std::unique_ptr<Gateway> gw_;
};

EVP_PKEY* JwksGatewayTest::key_a_ = nullptr;
EVP_PKEY* JwksGatewayTest::key_b_ = nullptr;
EVP_PKEY* JwksGatewayTest::key_c_ = nullptr;

TEST_F(JwksGatewayTest, UrlRotationAndProviderDown) {
  const std::string dir = TestDir("jwks-https");
  Pki pki = MakePki(dir);
  const std::string doc = dir + "/jwks.json";
  WriteAtomically(doc, Jwks({RsaJwk(key_a_, "a")}));
  // s_server prints "ACCEPT host:port" on stdout; Process watches stderr.
  auto server = std::make_unique<Process>(std::vector<std::string>{
      "/bin/sh", "-c",
      absl::StrCat("cd '", dir, "' && exec openssl s_server -WWW -accept 127.0.0.1:0 -cert '",
                   pki.server_cert, "' -key '", pki.server_key, "' 1>&2")});
  std::optional<std::string> accept = server->WaitForLine("ACCEPT", absl::Seconds(20));
  ASSERT_TRUE(accept.has_value()) << server->output();
  const std::string port = accept->substr(accept->rfind(':') + 1);

  Config c = BaseConfig();
  c.auth.jwks_url = absl::StrCat("https://127.0.0.1:", port, "/jwks.json");
  c.auth.jwks_ca_file = pki.ca_cert;
  c.auth.jwks_refresh = absl::Hours(1);  // Only unknown kids trigger fetches here.
  c.auth.jwks_min_refetch = absl::ZeroDuration();
  StartGateway(c);

  // Loaded at start: a's tokens work at once, over HTTP and gRPC.
  EXPECT_EQ(Publish(Token(key_a_, "a")).status, 200);
  {
    auto stub = v1::Publisher::NewStub(
        grpc::CreateChannel(gw_->grpc_address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + Token(key_a_, "a"));
    v1::PublishRequest req;
    req.set_topic("jwks.grpc");
    v1::PublishResponse res;
    EXPECT_TRUE(stub->Publish(&ctx, req, &res).ok());
  }
  // A key the provider does not have (yet) is refused, naming the kid.
  HttpResult unknown = Publish(Token(key_b_, "b"));
  EXPECT_EQ(unknown.status, 401);
  EXPECT_TRUE(absl::StrContains(unknown.body, "no key with kid \\\"b\\\"")) << unknown.body;
  // A token claiming kid a but signed by another key is refused.
  EXPECT_EQ(Publish(Token(key_b_, "a")).status, 401);

  // Rotation at the provider: b in, a out. The unknown kid triggers the fetch.
  WriteAtomically(doc, Jwks({RsaJwk(key_b_, "b")}));
  EXPECT_TRUE(AcceptedWithin(Token(key_b_, "b")));
  HttpResult removed = Publish(Token(key_a_, "a"));
  EXPECT_EQ(removed.status, 401) << removed.body;

  // The provider goes away: a fetch fails (triggered by an unknown kid),
  // and the cached key keeps working.
  ASSERT_EQ(server->Signal(SIGKILL), SIGKILL) << server->output();
  const uint64_t errors = Refreshes("error");
  EXPECT_EQ(Publish(Token(key_c_, "c")).status, 401);
  ASSERT_TRUE(RefreshFailedWithin(errors));
  EXPECT_EQ(Publish(Token(key_b_, "b")).status, 200);
  EXPECT_EQ(Publish(Token(key_a_, "a")).status, 401);
}

TEST_F(JwksGatewayTest, FileIsReloadedWhenItChanges) {
  const std::string dir = TestDir("jwks-file");
  const std::string doc = dir + "/jwks.json";
  WriteAtomically(doc, Jwks({RsaJwk(key_a_, "a")}));
  Config c = BaseConfig();
  c.auth.jwks_file = doc;
  c.auth.jwks_file_poll = absl::Milliseconds(50);
  StartGateway(c);
  EXPECT_EQ(Publish(Token(key_a_, "a")).status, 200);
  EXPECT_EQ(Publish(Token(key_b_, "b")).status, 401);

  WriteAtomically(doc, Jwks({RsaJwk(key_b_, "b"), RsaJwk(key_c_, "c")}));
  EXPECT_TRUE(AcceptedWithin(Token(key_b_, "b")));
  EXPECT_EQ(Publish(Token(key_c_, "c")).status, 200);
  EXPECT_EQ(Publish(Token(key_a_, "a")).status, 401);

  // A broken document keeps the keys in use.
  const uint64_t errors = Refreshes("error");
  WriteAtomically(doc, "{\"keys\":");
  ASSERT_TRUE(RefreshFailedWithin(errors));
  EXPECT_EQ(Publish(Token(key_b_, "b")).status, 200);
}

TEST_F(JwksGatewayTest, BadConfigurationsFailAtStart) {
  Config c = BaseConfig();
  c.auth.jwks_file = "/nonexistent/jwks.json";
  absl::StatusOr<std::unique_ptr<Gateway>> gw = Gateway::Start(c);
  ASSERT_FALSE(gw.ok());
  EXPECT_TRUE(absl::StrContains(gw.status().message(), "--auth_jwks_file=/nonexistent/jwks.json"))
      << gw.status();
  c = BaseConfig();
  c.auth.jwks_url = "http://127.0.0.1:1/jwks.json";
  gw = Gateway::Start(c);
  ASSERT_FALSE(gw.ok());
  EXPECT_TRUE(absl::StrContains(gw.status().message(), "must be an https:// URL")) << gw.status();
}

}  // namespace
}  // namespace tailgate::testing

// Tokens minted by MintToken verify with the gateway's JwtVerifier (and carry
// the grants asked for); keys and algorithms that do not fit are refused.
#include "gateway/auth/token_mint.h"

#include <openssl/pem.h>

#include <gtest/gtest.h>

#include "gateway/auth/verifier.h"
#include "tests/testing/jwt_testing.h"

namespace tailgate {
namespace {

using testing::NewEcKey;
using testing::NewRsaKey;
using testing::PublicPem;

std::string PrivatePem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

absl::StatusOr<Grants> Verify(const std::string& token, AuthConfig config, absl::Time now) {
  auto verifier = JwtVerifier::Create(config);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  if (!verifier.ok()) return verifier.status();
  return (*verifier)->Verify(token, now);
}

TokenSpec Spec(std::string key) {
  TokenSpec spec;
  spec.key = std::move(key);
  spec.subject = "dev";
  spec.subscribe = {"orders.>"};
  spec.publish = {"orders.*"};
  spec.ttl = absl::Hours(1);
  return spec;
}

TEST(TokenMintTest, KeysOfEveryKindMintTokensTheVerifierAccepts) {
  const absl::Time now = absl::Now();
  auto rsa = NewRsaKey();
  auto p256 = NewEcKey("P-256");
  auto p384 = NewEcKey("P-384");
  struct Case {
    std::string key, public_pem, hmac, alg;
  };
  const std::string secret(32, 's');
  for (const Case& c : {Case{PrivatePem(rsa.get()), PublicPem(rsa.get()), "", "RS256"},
                        Case{PrivatePem(p256.get()), PublicPem(p256.get()), "", "ES256"},
                        Case{PrivatePem(p384.get()), PublicPem(p384.get()), "", "ES384"},
                        Case{secret + "\n", "", secret, "HS256"}}) {
    absl::StatusOr<std::string> token = MintToken(Spec(c.key), now);
    ASSERT_TRUE(token.ok()) << c.alg << ": " << token.status();
    AuthConfig config;
    config.algorithms = {c.alg};  // the algorithm chosen from the key, and only it
    config.public_key_pem = c.public_pem;
    config.hs256_secret = c.hmac;
    absl::StatusOr<Grants> grants = Verify(*token, config, now);
    ASSERT_TRUE(grants.ok()) << c.alg << ": " << grants.status();
    EXPECT_EQ(grants->subject, "dev");
    EXPECT_TRUE(grants->MayPublish("orders.1"));
    EXPECT_FALSE(grants->MayPublish("users.1"));
    EXPECT_FALSE(grants->admin);
    EXPECT_EQ(absl::ToUnixSeconds(grants->expires), absl::ToUnixSeconds(now + absl::Hours(1)));
    // Expired after the ttl (plus the verifier's leeway).
    EXPECT_FALSE(Verify(*token, config, now + absl::Hours(2)).ok()) << c.alg;
  }
}

TEST(TokenMintTest, AdminIssuerAudienceAndClaimName) {
  const absl::Time now = absl::Now();
  TokenSpec spec = Spec(std::string(48, 'k'));
  spec.algorithm = "HS384";
  spec.admin = true;
  spec.issuer = "https://idp.example";
  spec.audience = "tailgate";
  spec.claim = "https://tailgate.example/grants";
  absl::StatusOr<std::string> token = MintToken(spec, now);
  ASSERT_TRUE(token.ok()) << token.status();
  AuthConfig config;
  config.algorithms = {"HS384"};
  config.hs256_secret = std::string(48, 'k');
  config.issuer = spec.issuer;
  config.audience = spec.audience;
  config.claim = spec.claim;
  absl::StatusOr<Grants> grants = Verify(*token, config, now);
  ASSERT_TRUE(grants.ok()) << grants.status();
  EXPECT_TRUE(grants->admin);
  config.issuer = "someone-else";
  EXPECT_FALSE(Verify(*token, config, now).ok());
}

TEST(TokenMintTest, RefusesWhatTheGatewayWouldRefuse) {
  auto rsa = NewRsaKey();
  auto p256 = NewEcKey("P-256");
  const absl::Time now = absl::Now();
  auto error = [&](TokenSpec spec) {
    absl::StatusOr<std::string> t = MintToken(spec, now);
    EXPECT_FALSE(t.ok());
    return std::string(t.status().message());
  };
  EXPECT_NE(error(Spec(PublicPem(rsa.get()))).find("no PEM private key"), std::string::npos);
  EXPECT_NE(error(Spec("short")).find("at least 32 bytes"), std::string::npos);
  TokenSpec es384_on_p256 = Spec(PrivatePem(p256.get()));
  es384_on_p256.algorithm = "ES384";
  EXPECT_NE(error(es384_on_p256).find("cannot be signed"), std::string::npos);
  TokenSpec rs_with_secret = Spec(std::string(32, 'x'));
  rs_with_secret.algorithm = "RS256";
  EXPECT_NE(error(rs_with_secret).find("needs a PEM private key"), std::string::npos);
  TokenSpec none = Spec(std::string(32, 'x'));
  none.algorithm = "none";
  EXPECT_NE(error(none).find("unknown algorithm"), std::string::npos);
  TokenSpec bad_pattern = Spec(std::string(32, 'x'));
  bad_pattern.subscribe = {"orders.>.x"};
  EXPECT_NE(error(bad_pattern).find("subscribe"), std::string::npos);
  TokenSpec no_ttl = Spec(std::string(32, 'x'));
  no_ttl.ttl = absl::ZeroDuration();
  EXPECT_EQ(error(no_ttl), "ttl must be > 0");
}

}  // namespace
}  // namespace tailgate

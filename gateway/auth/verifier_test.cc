#include "gateway/auth/verifier.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/jwt_testing.h"

namespace tailgate {
namespace {

using ::testing::HasSubstr;
using ::tailgate::testing::Base64Url;

// ---------------------------------------------------------------------------
// Keys and tokens made here, with OpenSSL and libjwt's encoder.

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

KeyPair MakeKey(const char* type, const char* param) {
  EVP_PKEY* key = std::string(type) == "RSA"
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(atoi(param)))
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", param);
  EXPECT_NE(key, nullptr);
  KeyPair out;
  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<size_t>(n));
    BIO_free(bio);
    return s;
  };
  out.private_pem = pem([&](BIO* b) {
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  out.public_pem = pem([&](BIO* b) { PEM_write_bio_PUBKEY(b, key); });
  EVP_PKEY_free(key);
  return out;
}

// Signs `claims_json` with libjwt. `key` is the HMAC secret or private PEM.
std::string Sign(jwt_alg_t alg, const std::string& key, const std::string& claims_json) {
  jwt_t* jwt = nullptr;
  EXPECT_EQ(jwt_new(&jwt), 0);
  EXPECT_EQ(jwt_add_grants_json(jwt, claims_json.c_str()), 0) << claims_json;
  EXPECT_EQ(jwt_set_alg(jwt, alg, alg == JWT_ALG_NONE ? nullptr : reinterpret_cast<const unsigned char*>(key.data()),
                        alg == JWT_ALG_NONE ? 0 : static_cast<int>(key.size())),
            0);
  char* encoded = jwt_encode_str(jwt);
  EXPECT_NE(encoded, nullptr);
  std::string token = encoded ? encoded : "";
  free(encoded);
  jwt_free(jwt);
  return token;
}

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
const std::string kSecret = "0123456789abcdef0123456789abcdef";  // 32 bytes

std::string Claims(int64_t exp_offset_s, const std::string& extra = "") {
  return absl::StrCat(R"({"sub":"alice","exp":)", absl::ToUnixSeconds(kNow) + exp_offset_s,
                      R"(,"tailgate":{"subscribe":["orders.>"],"publish":["orders.*"]})", extra,
                      "}");
}

std::unique_ptr<JwtVerifier> Verifier(AuthConfig config) {
  absl::StatusOr<std::unique_ptr<JwtVerifier>> v = JwtVerifier::Create(config);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : nullptr;
}

AuthConfig HmacConfig() {
  AuthConfig c;
  c.algorithms = {"HS256"};
  c.hs256_secret = kSecret;
  return c;
}

class JwtVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new KeyPair(MakeKey("RSA", "2048"));
    rsa_other_ = new KeyPair(MakeKey("RSA", "2048"));
    ec_ = new KeyPair(MakeKey("EC", "P-256"));
    ec_other_ = new KeyPair(MakeKey("EC", "P-256"));
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete rsa_other_;
    delete ec_;
    delete ec_other_;
  }
  static AuthConfig PublicKeyConfig(std::vector<std::string> algs, const std::string& pem) {
    AuthConfig c;
    c.algorithms = std::move(algs);
    c.public_key_pem = pem;
    return c;
  }

  static KeyPair* rsa_;
  static KeyPair* rsa_other_;
  static KeyPair* ec_;
  static KeyPair* ec_other_;
};
KeyPair* JwtVerifierTest::rsa_;
KeyPair* JwtVerifierTest::rsa_other_;
KeyPair* JwtVerifierTest::ec_;
KeyPair* JwtVerifierTest::ec_other_;

TEST_F(JwtVerifierTest, ValidHs256TokenYieldsGrants) {
  auto v = Verifier(HmacConfig());
  absl::StatusOr<Grants> g = v->Verify(Sign(JWT_ALG_HS256, kSecret, Claims(600)), kNow);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->subject, "alice");
  EXPECT_EQ(g->expires, kNow + absl::Seconds(600));
  ASSERT_EQ(g->subscribe.size(), 1u);
  EXPECT_EQ(g->subscribe[0].str(), "orders.>");
  ASSERT_EQ(g->publish.size(), 1u);
  EXPECT_EQ(g->publish[0].str(), "orders.*");
  EXPECT_TRUE(g->MayPublish("orders.42"));
  EXPECT_FALSE(g->MayPublish("orders.eu.42"));
}

TEST_F(JwtVerifierTest, ValidRs256AndEs256Tokens) {
  auto rs = Verifier(PublicKeyConfig({"RS256"}, rsa_->public_pem));
  absl::StatusOr<Grants> g = rs->Verify(Sign(JWT_ALG_RS256, rsa_->private_pem, Claims(600)), kNow);
  EXPECT_TRUE(g.ok()) << g.status();

  auto es = Verifier(PublicKeyConfig({"ES256"}, ec_->public_pem));
  g = es->Verify(Sign(JWT_ALG_ES256, ec_->private_pem, Claims(600)), kNow);
  EXPECT_TRUE(g.ok()) << g.status();
}

TEST_F(JwtVerifierTest, KeyFileWithSeveralKeysServesEachAlgorithm) {
  auto v = Verifier(PublicKeyConfig({"RS256", "ES256"},
                                    rsa_other_->public_pem + rsa_->public_pem + ec_->public_pem));
  EXPECT_TRUE(v->Verify(Sign(JWT_ALG_RS256, rsa_->private_pem, Claims(600)), kNow).ok());
  EXPECT_TRUE(v->Verify(Sign(JWT_ALG_RS256, rsa_other_->private_pem, Claims(600)), kNow).ok());
  EXPECT_TRUE(v->Verify(Sign(JWT_ALG_ES256, ec_->private_pem, Claims(600)), kNow).ok());
  EXPECT_FALSE(v->Verify(Sign(JWT_ALG_ES256, ec_other_->private_pem, Claims(600)), kNow).ok());
}

TEST_F(JwtVerifierTest, ExpiredTokenIsRefusedAfterLeeway) {
  auto v = Verifier(HmacConfig());  // leeway 30 s
  EXPECT_TRUE(v->Verify(Sign(JWT_ALG_HS256, kSecret, Claims(-29)), kNow).ok());
  absl::StatusOr<Grants> g = v->Verify(Sign(JWT_ALG_HS256, kSecret, Claims(-30)), kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("expired at 2023-11-14T22:12:50Z"));
}

TEST_F(JwtVerifierTest, ValidUntilIsTheFirstInstantVerifyRefuses) {
  // Streams end at valid_until: it must be exactly where Verify flips.
  auto v = Verifier(HmacConfig());  // leeway 30 s
  const std::string token = Sign(JWT_ALG_HS256, kSecret, Claims(600));
  absl::StatusOr<Grants> g = v->Verify(token, kNow);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->valid_until, kNow + absl::Seconds(630));
  EXPECT_TRUE(v->Verify(token, g->valid_until - absl::Nanoseconds(1)).ok());
  EXPECT_FALSE(v->Verify(token, g->valid_until).ok());
}

TEST_F(JwtVerifierTest, NotYetValidTokenIsRefused) {
  auto v = Verifier(HmacConfig());
  const int64_t now = absl::ToUnixSeconds(kNow);
  EXPECT_TRUE(
      v->Verify(Sign(JWT_ALG_HS256, kSecret, Claims(600, absl::StrCat(R"(,"nbf":)", now + 30))), kNow)
          .ok());
  absl::StatusOr<Grants> g =
      v->Verify(Sign(JWT_ALG_HS256, kSecret, Claims(600, absl::StrCat(R"(,"nbf":)", now + 31))), kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("not valid before"));
}

TEST_F(JwtVerifierTest, TokenWithoutExpIsRefused) {
  auto v = Verifier(HmacConfig());
  absl::StatusOr<Grants> g = v->Verify(Sign(JWT_ALG_HS256, kSecret, R"({"sub":"x"})"), kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("'exp' claim is required"));
  g = v->Verify(Sign(JWT_ALG_HS256, kSecret, R"({"exp":"tomorrow"})"), kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("must be a number"));
}

TEST_F(JwtVerifierTest, WrongKeyIsRefused) {
  auto hs = Verifier(HmacConfig());
  absl::StatusOr<Grants> g =
      hs->Verify(Sign(JWT_ALG_HS256, "another-secret-another-secret-xx", Claims(600)), kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("signature verification failed"));

  auto rs = Verifier(PublicKeyConfig({"RS256"}, rsa_->public_pem));
  g = rs->Verify(Sign(JWT_ALG_RS256, rsa_other_->private_pem, Claims(600)), kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnauthenticated);

  auto es = Verifier(PublicKeyConfig({"ES256"}, ec_->public_pem));
  g = es->Verify(Sign(JWT_ALG_ES256, ec_other_->private_pem, Claims(600)), kNow);
  ASSERT_FALSE(g.ok());
}

TEST_F(JwtVerifierTest, TamperedPayloadIsRefused) {
  auto v = Verifier(HmacConfig());
  const std::string token = Sign(JWT_ALG_HS256, kSecret, Claims(600));
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  ASSERT_EQ(parts.size(), 3u);
  // Same signature, claims widened to everything.
  const std::string forged = absl::StrCat(
      parts[0], ".",
      Base64Url(absl::StrCat(R"({"sub":"alice","exp":)", absl::ToUnixSeconds(kNow) + 600,
                             R"(,"tailgate":{"subscribe":[">"],"publish":[">"]}})")),
      ".", parts[2]);
  absl::StatusOr<Grants> g = v->Verify(forged, kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("signature verification failed"));

  // RSA too.
  auto rs = Verifier(PublicKeyConfig({"RS256"}, rsa_->public_pem));
  std::vector<std::string> rparts =
      absl::StrSplit(Sign(JWT_ALG_RS256, rsa_->private_pem, Claims(600)), '.');
  EXPECT_FALSE(rs->Verify(absl::StrCat(rparts[0], ".", forged.substr(forged.find('.') + 1,
                                                                      forged.rfind('.') - forged.find('.') - 1),
                                       ".", rparts[2]),
                          kNow)
                   .ok());
}

TEST_F(JwtVerifierTest, AlgNoneIsRefused) {
  auto v = Verifier(HmacConfig());
  const std::string unsigned_token = Sign(JWT_ALG_NONE, "", Claims(600));
  ASSERT_EQ(unsigned_token.back(), '.');
  absl::StatusOr<Grants> g = v->Verify(unsigned_token, kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnauthenticated);
  // With a dummy signature appended, the header check refuses it.
  g = v->Verify(unsigned_token + "c2ln", kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("is not allowed"));
  // Header spelled by hand, in case an encoder normalises it.
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    const std::string forged =
        absl::StrCat(Base64Url(absl::StrCat(R"({"alg":")", alg, R"(","typ":"JWT"})")), ".",
                     Base64Url(Claims(600)), ".c2ln");
    EXPECT_FALSE(v->Verify(forged, kNow).ok()) << alg;
  }
  // And it cannot be configured.
  AuthConfig c = HmacConfig();
  c.algorithms = {"HS256", "none"};
  EXPECT_EQ(JwtVerifier::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
}

// The classic confusion attack: the attacker takes the server's RSA public key
// (it is public) and uses its PEM text as an HMAC secret.
TEST_F(JwtVerifierTest, Hs256TokenSignedWithThePublicKeyIsRefused) {
  const std::string forged = Sign(JWT_ALG_HS256, rsa_->public_pem, Claims(600));

  auto rs_only = Verifier(PublicKeyConfig({"RS256"}, rsa_->public_pem));
  absl::StatusOr<Grants> g = rs_only->Verify(forged, kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("algorithm HS256 is not allowed"));

  // Even with HS256 allowed (own secret), the public key is never an HMAC key.
  AuthConfig both = PublicKeyConfig({"RS256", "HS256"}, rsa_->public_pem);
  both.hs256_secret = kSecret;
  auto mixed = Verifier(both);
  g = mixed->Verify(forged, kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("signature verification failed"));
  // ...while its own tokens still verify.
  EXPECT_TRUE(mixed->Verify(Sign(JWT_ALG_RS256, rsa_->private_pem, Claims(600)), kNow).ok());
  EXPECT_TRUE(mixed->Verify(Sign(JWT_ALG_HS256, kSecret, Claims(600)), kNow).ok());

  // Same attack with the EC key's PEM.
  auto es = Verifier(PublicKeyConfig({"ES256"}, ec_->public_pem));
  EXPECT_FALSE(es->Verify(Sign(JWT_ALG_HS256, ec_->public_pem, Claims(600)), kNow).ok());
}

TEST_F(JwtVerifierTest, AlgorithmOutsideTheAllowListIsRefused) {
  AuthConfig c = HmacConfig();
  c.hs256_secret = std::string(64, 'k');
  auto v = Verifier(c);  // HS256 only
  absl::StatusOr<Grants> g = v->Verify(Sign(JWT_ALG_HS512, c.hs256_secret, Claims(600)), kNow);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("algorithm HS512 is not allowed"));
  // An RS256 key file does not verify an RS512 token unless RS512 is listed.
  auto rs = Verifier(PublicKeyConfig({"RS256"}, rsa_->public_pem));
  EXPECT_FALSE(rs->Verify(Sign(JWT_ALG_RS512, rsa_->private_pem, Claims(600)), kNow).ok());
  auto rs512 = Verifier(PublicKeyConfig({"RS512"}, rsa_->public_pem));
  EXPECT_TRUE(rs512->Verify(Sign(JWT_ALG_RS512, rsa_->private_pem, Claims(600)), kNow).ok());
}

TEST_F(JwtVerifierTest, MalformedTokensAreRefusedWithoutEchoingThem) {
  auto v = Verifier(HmacConfig());
  const std::string valid = Sign(JWT_ALG_HS256, kSecret, Claims(600));
  const std::string sig = valid.substr(valid.rfind('.') + 1);
  for (const std::string& bad :
       {std::string(""), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
        std::string("..."), valid + "=", valid + " ", "Bearer " + valid, valid.substr(1),
        std::string("e30.e30.") + sig, std::string(kMaxTokenBytes + 1, 'a'),
        std::string("a\0b.c.d", 7)}) {
    absl::StatusOr<Grants> g = v->Verify(bad, kNow);
    ASSERT_FALSE(g.ok()) << bad;
    EXPECT_EQ(g.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(std::string(g.status().message()).find(sig), std::string::npos);
  }
}

TEST_F(JwtVerifierTest, CritHeaderIsRefused) {
  auto v = Verifier(HmacConfig());
  jwt_t* jwt = nullptr;
  ASSERT_EQ(jwt_new(&jwt), 0);
  ASSERT_EQ(jwt_add_grants_json(jwt, Claims(600).c_str()), 0);
  ASSERT_EQ(jwt_add_headers_json(jwt, R"({"crit":["exp"]})"), 0);
  ASSERT_EQ(jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(kSecret.data()),
                        static_cast<int>(kSecret.size())),
            0);
  char* token = jwt_encode_str(jwt);
  absl::StatusOr<Grants> g = v->Verify(token, kNow);
  free(token);
  jwt_free(jwt);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("crit"));
}

TEST_F(JwtVerifierTest, IssuerAndAudienceAreCheckedWhenConfigured) {
  AuthConfig c = HmacConfig();
  c.issuer = "https://auth.example";
  c.audience = "tailgate";
  auto v = Verifier(c);
  EXPECT_TRUE(v->Verify(Sign(JWT_ALG_HS256, kSecret,
                             Claims(600, R"(,"iss":"https://auth.example","aud":"tailgate")")),
                        kNow)
                  .ok());
  EXPECT_TRUE(v->Verify(Sign(JWT_ALG_HS256, kSecret,
                             Claims(600, R"(,"iss":"https://auth.example","aud":["x","tailgate"])")),
                        kNow)
                  .ok());
  EXPECT_FALSE(
      v->Verify(Sign(JWT_ALG_HS256, kSecret, Claims(600, R"(,"iss":"https://evil","aud":"tailgate")")),
                kNow)
          .ok());
  EXPECT_FALSE(v->Verify(Sign(JWT_ALG_HS256, kSecret,
                              Claims(600, R"(,"iss":"https://auth.example","aud":"other")")),
                         kNow)
                   .ok());
  EXPECT_FALSE(v->Verify(Sign(JWT_ALG_HS256, kSecret, Claims(600)), kNow).ok());
}

TEST_F(JwtVerifierTest, GrantClaimShapes) {
  auto v = Verifier(HmacConfig());
  const int64_t exp = absl::ToUnixSeconds(kNow) + 600;
  // No claim: authenticated, allowed nothing.
  absl::StatusOr<Grants> g =
      v->Verify(Sign(JWT_ALG_HS256, kSecret, absl::StrCat(R"({"exp":)", exp, "}")), kNow);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->subscribe.empty());
  EXPECT_FALSE(g->MaySubscribe(*store::TopicPattern::Parse("orders")));
  for (const char* bad : {R"("tailgate":"all")", R"("tailgate":{"subscribe":"orders.>"})",
                          R"("tailgate":{"subscribe":[1]})", R"("tailgate":{"publish":["a..b"]})",
                          R"("tailgate":{"subscribe":["a.>.b"]})", R"("sub":42)"}) {
    g = v->Verify(Sign(JWT_ALG_HS256, kSecret, absl::StrCat(R"({"exp":)", exp, ",", bad, "}")),
                  kNow);
    EXPECT_FALSE(g.ok()) << bad;
    EXPECT_EQ(g.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
  // A configurable claim name.
  AuthConfig c = HmacConfig();
  c.claim = "https://example.com/tailgate";
  auto custom = Verifier(c);
  g = custom->Verify(
      Sign(JWT_ALG_HS256, kSecret,
           absl::StrCat(R"({"exp":)", exp, R"(,"https://example.com/tailgate":{"subscribe":["a"]}})")),
      kNow);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->subscribe.size(), 1u);
}

TEST_F(JwtVerifierTest, CreateRefusesUnusableConfigurations) {
  auto code = [](const AuthConfig& c) { return JwtVerifier::Create(c).status().code(); };
  AuthConfig c;
  EXPECT_EQ(code(c), absl::StatusCode::kInvalidArgument);  // no algorithms
  c = HmacConfig();
  c.algorithms = {"HS257"};
  EXPECT_EQ(code(c), absl::StatusCode::kInvalidArgument);
  c = HmacConfig();
  c.hs256_secret = "short";
  EXPECT_EQ(code(c), absl::StatusCode::kInvalidArgument);
  c = HmacConfig();
  c.algorithms = {"HS512"};  // 32-byte secret is too short for HS512
  EXPECT_EQ(code(c), absl::StatusCode::kInvalidArgument);
  c = HmacConfig();
  c.leeway = absl::Seconds(-1);
  EXPECT_EQ(code(c), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(PublicKeyConfig({"RS256"}, "")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(PublicKeyConfig({"RS256"}, "not a pem")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(PublicKeyConfig({"RS256"}, rsa_->private_pem)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(PublicKeyConfig({"ES256"}, rsa_->public_pem)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(PublicKeyConfig({"RS256"}, ec_->public_pem)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(PublicKeyConfig({"RS256"}, MakeKey("RSA", "1024").public_pem)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(PublicKeyConfig({"ES256"}, MakeKey("EC", "P-384").public_pem)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(PublicKeyConfig({"ES384"}, MakeKey("EC", "P-384").public_pem)),
            absl::StatusCode::kOk);
  // A secret nobody uses is a configuration mistake.
  AuthConfig unused = PublicKeyConfig({"RS256"}, rsa_->public_pem);
  unused.hs256_secret = kSecret;
  EXPECT_EQ(code(unused), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tailgate

#include "gateway/auth/redact.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tailgate {
namespace {

TEST(RedactCredentialsTest, ReplacesOnlyTheTokenValue) {
  EXPECT_EQ(RedactCredentials("/v1/events?topic=a&access_token=secret.jwt.sig&since=earliest"),
            "/v1/events?topic=a&access_token=REDACTED&since=earliest");
  EXPECT_EQ(RedactCredentials("/v1/events?access_token=s"), "/v1/events?access_token=REDACTED");
  EXPECT_EQ(RedactCredentials("/?access_token=a&access_token=b"),
            "/?access_token=REDACTED&access_token=REDACTED");
  EXPECT_EQ(RedactCredentials("/?access%5ftoken=a"), "/?access%5ftoken=REDACTED");
  EXPECT_EQ(RedactCredentials("/?access_token"), "/?access_token");
  EXPECT_EQ(RedactCredentials("/v1/events?topic=access_token"), "/v1/events?topic=access_token");
  EXPECT_EQ(RedactCredentials("/access_token=x"), "/access_token=x");
  EXPECT_EQ(RedactCredentials(""), "");
}

// {"alg":"HS256","typ":"JWT"}.{"sub":"x"}.signature
constexpr char kJwt[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

TEST(RedactCredentialsTest, CredentialNamesInAnySpelling) {
  for (const char* name :
       {"Access_Token", "ACCESS_TOKEN", "access-token", "accessToken", "access.token", "token",
        "Token", "jwt", "JWT", "id_token", "refresh_token", "auth", "authorization", "bearer",
        "api_key", "apiKey", "key", "password", "passwd", "secret", "client_secret", "session",
        "sessionid", "sig", "signature", "code", "acc%65ss_token"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(RedactCredentials(absl::StrCat("/v1/events?topic=a&", name, "=opaque-secret-1")),
              absl::StrCat("/v1/events?topic=a&", name, "=REDACTED"));
  }
}

TEST(RedactCredentialsTest, AnyValueHoldingAJwt) {
  const std::string jwt = kJwt;
  EXPECT_EQ(RedactCredentials("/v1/events?topic=a&x=" + jwt), "/v1/events?topic=a&x=REDACTED");
  EXPECT_EQ(RedactCredentials("/v1/events?" + jwt + "&topic=a"), "/v1/events?REDACTED&topic=a");
  // %-encoded dots, a Bearer prefix, a JWE (five parts), no signature (alg none).
  std::string encoded = jwt;
  for (size_t at; (at = encoded.find('.')) != std::string::npos;) encoded.replace(at, 1, "%2E");
  EXPECT_EQ(RedactCredentials("/?v=" + encoded), "/?v=REDACTED");
  EXPECT_EQ(RedactCredentials("/?v=Bearer%20" + jwt), "/?v=REDACTED");
  EXPECT_EQ(RedactCredentials("/?v=Bearer+" + jwt), "/?v=REDACTED");
  EXPECT_EQ(RedactCredentials("/?v=" + jwt + ".aaa.bbb"), "/?v=REDACTED");
  EXPECT_EQ(RedactCredentials("/?v=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), "/?v=REDACTED");
  // Inside another value (a redirect URL), or as a ;sub=parameter.
  EXPECT_EQ(RedactCredentials("/?next=https%3A%2F%2Fa.example%2F%3Fid%3D" + jwt), "/?next=REDACTED");
  EXPECT_EQ(RedactCredentials("/?q=a%3Btoken%3Dopaque"), "/?q=REDACTED");
  EXPECT_EQ(RedactCredentials("/?q=a;token=opaque&topic=b"), "/?q=REDACTED&topic=b");
  // In the path.
  EXPECT_EQ(RedactCredentials("/v1/events/" + jwt + "?topic=a"), "/v1/events/REDACTED?topic=a");
}

// Names and values are decoded as gateway/http/query.h decodes them: a
// malformed escape is kept, and what follows it still counts.
TEST(RedactCredentialsTest, MalformedEscapesDoNotHideCredentials) {
  EXPECT_EQ(RedactCredentials("/?%zz%74oken=s&topic=%zz"), "/?%zz%74oken=REDACTED&topic=%zz");
  EXPECT_EQ(RedactCredentials("/?x=%zz%3Btoken=s"), "/?x=REDACTED");
}

TEST(RedactCredentialsTest, OrdinaryRequestsStayReadableAndRedactionIsIdempotent) {
  for (const char* target :
       {"/v1/events?topic=orders.eu.1&topic=a.*.c&since=earliest&lastEventId=42",
        "/v1/events?topic=abc.def.ghi", "/v1/events?topic=eyJ.x.y", "/healthz", "/", "/?",
        "/?&&", "/?a=&=b&c", "/a//b/?x=%zz"}) {
    SCOPED_TRACE(target);
    EXPECT_EQ(RedactCredentials(target), target);
  }
  for (const std::string& target :
       {std::string("/v1/events?topic=a&Access_Token=") + kJwt, std::string("/?") + kJwt,
        std::string("/?token=a&jwt=") + kJwt + "&x=REDACTED", std::string("/") + kJwt + "/?"}) {
    SCOPED_TRACE(target);
    const std::string once = RedactCredentials(target);
    EXPECT_EQ(RedactCredentials(once), once);
    EXPECT_EQ(once.find("c2lnbmF0dXJl"), std::string::npos) << once;
  }
}

}  // namespace
}  // namespace tailgate

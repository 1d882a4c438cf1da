#include "gateway/auth/verifier.h"

#include <jansson.h>
#include <jwt.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/auth/base64url.h"
#include "gateway/auth/keys.h"
#include "store/absl_view.h"

namespace tailgate {

namespace {

using Key = auth_internal::VerifierKey;
using Kind = Key::Kind;
using auth_internal::Algorithm;
using auth_internal::FindAlgorithm;
using auth_internal::LoadPublicKeys;
using auth_internal::VerifyPublicKeySignature;

// Debian's Abseil is built with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0).

// RAII for the C libraries' objects.
struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;
struct JsonFree {
  void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonFree>;
struct CFree {
  void operator()(char* p) const { std::free(p); }
};
using CString = std::unique_ptr<char, CFree>;

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", AbslView(why)));
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// header.payload.signature, each non-empty unpadded base64url.
bool IsCompactJws(std::string_view token) {
  int dots = 0;
  size_t segment = 0;
  for (char c : token) {
    if (c == '.') {
      if (segment == 0) return false;
      ++dots;
      segment = 0;
    } else if (IsBase64UrlChar(c)) {
      ++segment;
    } else {
      return false;
    }
  }
  return dots == 2 && segment > 0;
}

JsonPtr ParseJson(const char* text) {
  if (text == nullptr) return nullptr;
  json_error_t error;
  return JsonPtr(json_loads(text, JSON_DECODE_ANY, &error));
}

std::string_view JsonString(const json_t* s) {
  return std::string_view(json_string_value(s), json_string_length(s));
}

// NumericDate (RFC 7519 2): seconds since the epoch, integer or not.
absl::StatusOr<absl::Time> NumericDate(const json_t* claims, const char* name, bool required) {
  const json_t* v = json_object_get(claims, name);
  if (v == nullptr) {
    if (required) return Unauthenticated(absl::StrCat("'", name, "' claim is required"));
    return absl::InfinitePast();
  }
  if (json_is_integer(v)) return absl::FromUnixSeconds(json_integer_value(v));
  if (json_is_real(v)) return absl::UnixEpoch() + absl::Seconds(json_real_value(v));
  return Unauthenticated(absl::StrCat("'", name, "' claim must be a number (seconds since 1970)"));
}

absl::Status ParsePatterns(const json_t* grants, const char* member, const std::string& claim,
                           std::vector<store::TopicPattern>* out) {
  const json_t* list = json_object_get(grants, member);
  if (list == nullptr) return absl::OkStatus();
  const std::string field = absl::StrCat(claim, ".", member);
  if (!json_is_array(list)) {
    return Unauthenticated(absl::StrCat("'", field, "' must be an array of topic patterns"));
  }
  if (json_array_size(list) > kMaxGrantPatterns) {
    return Unauthenticated(absl::StrCat("'", field, "' has ", json_array_size(list),
                                        " patterns; the limit is ", kMaxGrantPatterns));
  }
  for (size_t i = 0; i < json_array_size(list); ++i) {
    const json_t* item = json_array_get(list, i);
    const std::string name = absl::StrCat(field, "[", i, "]");
    if (!json_is_string(item)) {
      return Unauthenticated(absl::StrCat("'", name, "' must be a string"));
    }
    absl::StatusOr<store::TopicPattern> p = store::TopicPattern::Parse(JsonString(item), name);
    if (!p.ok()) {
      const absl::string_view why = p.status().message();
      return Unauthenticated(std::string_view(why.data(), why.size()));
    }
    out->push_back(*std::move(p));
  }
  return absl::OkStatus();
}

bool AudienceMatches(const json_t* aud, std::string_view want) {
  if (json_is_string(aud)) return JsonString(aud) == want;
  if (!json_is_array(aud)) return false;
  for (size_t i = 0; i < json_array_size(aud); ++i) {
    const json_t* a = json_array_get(aud, i);
    if (json_is_string(a) && JsonString(a) == want) return true;
  }
  return false;
}

}  // namespace

JwtVerifier::JwtVerifier(AuthConfig config)
    : config_(std::move(config)), jwks_keys_(std::make_shared<const KeySet>()) {}

std::shared_ptr<const JwtVerifier::KeySet> JwtVerifier::jwks_keys() const {
  std::lock_guard<std::mutex> lock(jwks_mu_);
  return jwks_keys_;
}

size_t JwtVerifier::jwks_key_count() const { return jwks_keys()->size(); }

absl::Status JwtVerifier::SetJwksKeys(const std::vector<KeyedPublicKey>& keys) {
  auto set = std::make_shared<KeySet>();
  for (const KeyedPublicKey& k : keys) {
    std::vector<Key> parsed;
    if (absl::Status s = LoadPublicKeys(k.pem, &parsed); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("key \"", k.kid, "\": ", s.message()));
    }
    for (Key& key : parsed) {
      key.kid = k.kid;
      set->push_back(std::move(key));
    }
  }
  std::lock_guard<std::mutex> lock(jwks_mu_);
  jwks_keys_ = std::move(set);
  return absl::OkStatus();
}
JwtVerifier::~JwtVerifier() = default;

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(const AuthConfig& config) {
  if (config.algorithms.empty()) {
    return absl::InvalidArgumentError("no JWT algorithm is allowed (e.g. HS256, RS256, ES256)");
  }
  if (config.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the JWT leeway must not be negative");
  }
  if (config.claim.empty()) return absl::InvalidArgumentError("the JWT claim name is empty");
  auto verifier = std::unique_ptr<JwtVerifier>(new JwtVerifier(config));
  const bool want_public_keys = !config.public_key_pem.empty();
  if (want_public_keys) {
    if (absl::Status s = LoadPublicKeys(config.public_key_pem, &verifier->keys_); !s.ok()) return s;
  }
  bool hmac_used = false;
  for (const std::string& name : config.algorithms) {
    if (absl::AsciiStrToLower(name) == "none") {
      return absl::InvalidArgumentError("JWT algorithm 'none' (unsigned tokens) is never allowed");
    }
    const Algorithm* alg = FindAlgorithm(name);
    if (alg == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown JWT algorithm '", name,
                       "' (supported: HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512)"));
    }
    if (alg->kind == Kind::kHmac) {
      if (config.hs256_secret.size() < alg->min_secret_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, " needs an HMAC secret of at least ", alg->min_secret_bytes, " bytes; it is ",
            config.hs256_secret.size()));
      }
      hmac_used = true;
      continue;
    }
    const bool have = std::any_of(verifier->keys_.begin(), verifier->keys_.end(), [&](const Key& k) {
      return k.kind == alg->kind && (alg->kind != Kind::kEc || k.curve == alg->curve);
    });
    // With a JWKS the keys arrive at run time (and may be rotated).
    if (!have && !config.jwks_enabled()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " is allowed but the public key file has no ",
          alg->kind == Kind::kRsa ? std::string("RSA key")
                                  : absl::StrCat("EC key on curve ", alg->curve)));
    }
  }
  if (!config.hs256_secret.empty() && !hmac_used) {
    return absl::InvalidArgumentError(
        "an HMAC secret is configured but no HS* algorithm is allowed");
  }
  if (hmac_used) {
    Key hmac;
    hmac.kind = Kind::kHmac;
    hmac.material = config.hs256_secret;
    verifier->keys_.push_back(std::move(hmac));
  }
  return verifier;
}

absl::StatusOr<Grants> JwtVerifier::Verify(std::string_view token, absl::Time now) const {
  if (token.empty()) return Unauthenticated("empty");
  if (token.size() > kMaxTokenBytes) {
    return Unauthenticated(
        absl::StrCat("it is ", token.size(), " bytes; the limit is ", kMaxTokenBytes));
  }
  if (!IsCompactJws(token)) {
    return Unauthenticated("not a signed JWT (expected three base64url segments separated by dots)");
  }
  const std::string text(token);  // NUL-terminated for libjwt; no NUL inside (checked above)

  // Read the header without verifying, only to learn which key type applies.
  // No key goes to libjwt until the algorithm is allowed and matches a key.
  const Algorithm* alg = nullptr;
  JwtPtr unverified;
  std::string kid;  // The header's `kid`, empty when absent.
  {
    jwt_t* raw = nullptr;
    const int rc = jwt_decode(&raw, text.c_str(), nullptr, 0);
    unverified.reset(raw);
    if (rc != 0 || !unverified) {
      return Unauthenticated("malformed (header or payload is not base64url-encoded JSON, or the "
                             "algorithm is unknown)");
    }
    CString header_json(jwt_get_headers_json(unverified.get(), nullptr));
    JsonPtr header = ParseJson(header_json.get());
    if (!json_is_object(header.get())) return Unauthenticated("malformed header");
    const json_t* a = json_object_get(header.get(), "alg");
    if (!json_is_string(a)) return Unauthenticated("header has no 'alg'");
    if (const json_t* k = json_object_get(header.get(), "kid"); json_is_string(k)) {
      kid = std::string(JsonString(k));
    }
    if (json_object_get(header.get(), "crit") != nullptr) {
      return Unauthenticated("header has 'crit' extensions, which are not supported");
    }
    alg = FindAlgorithm(JsonString(a));
    const bool allowed =
        alg != nullptr && std::find(config_.algorithms.begin(), config_.algorithms.end(),
                                    alg->name) != config_.algorithms.end();
    if (!allowed) {
      return Unauthenticated(absl::StrCat(
          "algorithm ", alg != nullptr ? alg->name : "(unsupported)", " is not allowed (allowed: ",
          absl::StrJoin(config_.algorithms, ", "), ")"));
    }
  }

  // The claims are read from the decoded token only once its signature over
  // header.payload (the very text decoded) has been verified.
  JwtPtr verified;
  if (alg->kind != Kind::kHmac) {
    const size_t last_dot = token.rfind('.');
    const std::optional<std::string> signature = Base64UrlDecode(token.substr(last_dot + 1));
    const std::shared_ptr<const KeySet> jwks = jwks_keys();
    bool kid_known = false;
    auto try_keys = [&](const KeySet& keys, bool by_kid) {
      for (const Key& key : keys) {
        if (verified) return;
        if (key.kind != alg->kind || (alg->kind == Kind::kEc && key.curve != alg->curve)) continue;
        if (by_kid && !kid.empty()) {
          if (key.kid != kid) continue;
          kid_known = true;
        }
        if (VerifyPublicKeySignature(key, *alg, token.substr(0, last_dot), *signature)) {
          verified = std::move(unverified);
        }
      }
    };
    if (signature.has_value()) {
      try_keys(*jwks, /*by_kid=*/true);
      try_keys(keys_, /*by_kid=*/false);
    }
    if (!verified && !kid.empty() && !kid_known && config_.jwks_enabled()) {
      if (unknown_kid_hook_) unknown_kid_hook_();
      // The kid is unverified input: echoed only when short and printable.
      const bool echo = kid.size() <= 64 && std::all_of(kid.begin(), kid.end(), [](char c) {
                          return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
                        });
      return Unauthenticated(absl::StrCat("signature verification failed: no key with kid ",
                                          echo ? "\"" + kid + "\"" : std::string("(unprintable)"),
                                          " in the JWKS"));
    }
  }
  for (const Key& key : keys_) {
    if (verified || alg->kind != Kind::kHmac) break;
    if (key.kind != Kind::kHmac) continue;
    jwt_t* raw = nullptr;
    const int rc = jwt_decode(&raw, text.c_str(),
                              reinterpret_cast<const unsigned char*>(key.material.data()),
                              static_cast<int>(key.material.size()));
    JwtPtr candidate(raw);
    // The algorithm libjwt verified with must be the one we allowed.
    if (rc == 0 && candidate && jwt_get_alg(candidate.get()) == alg->alg) {
      verified = std::move(candidate);
      break;
    }
  }
  if (!verified) return Unauthenticated("signature verification failed");

  CString claims_json(jwt_get_grants_json(verified.get(), nullptr));
  JsonPtr claims = ParseJson(claims_json.get());
  if (!json_is_object(claims.get())) return Unauthenticated("payload is not a JSON object");

  absl::StatusOr<absl::Time> exp = NumericDate(claims.get(), "exp", /*required=*/true);
  if (!exp.ok()) return exp.status();
  if (now >= *exp + config_.leeway) {
    return Unauthenticated(absl::StrCat("expired at ", Rfc3339(*exp)));
  }
  absl::StatusOr<absl::Time> nbf = NumericDate(claims.get(), "nbf", /*required=*/false);
  if (!nbf.ok()) return nbf.status();
  if (now < *nbf - config_.leeway) {
    return Unauthenticated(absl::StrCat("not valid before ", Rfc3339(*nbf)));
  }
  if (!config_.issuer.empty()) {
    const json_t* iss = json_object_get(claims.get(), "iss");
    if (!json_is_string(iss) || JsonString(iss) != config_.issuer) {
      return Unauthenticated(absl::StrCat("issuer ('iss') is not '", config_.issuer, "'"));
    }
  }
  if (!config_.audience.empty() &&
      !AudienceMatches(json_object_get(claims.get(), "aud"), config_.audience)) {
    return Unauthenticated(absl::StrCat("audience ('aud') does not include '", config_.audience, "'"));
  }

  Grants grants;
  grants.expires = *exp;
  grants.valid_until = *exp + config_.leeway;
  if (const json_t* sub = json_object_get(claims.get(), "sub"); sub != nullptr) {
    if (!json_is_string(sub)) return Unauthenticated("'sub' claim must be a string");
    grants.subject = std::string(JsonString(sub));
  }
  const json_t* claim = json_object_get(claims.get(), config_.claim.c_str());
  if (claim != nullptr) {
    if (!json_is_object(claim)) {
      return Unauthenticated(absl::StrCat("'", config_.claim, "' claim must be an object"));
    }
    if (absl::Status s = ParsePatterns(claim, "subscribe", config_.claim, &grants.subscribe);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ParsePatterns(claim, "publish", config_.claim, &grants.publish); !s.ok()) {
      return s;
    }
    if (const json_t* admin = json_object_get(claim, "admin"); admin != nullptr) {
      if (!json_is_boolean(admin)) {
        return Unauthenticated(absl::StrCat("'", config_.claim, ".admin' must be true or false"));
      }
      grants.admin = json_is_true(admin);
    }
  }
  if (subject_check_) {
    if (absl::Status s = subject_check_(grants.subject, now); !s.ok()) return s;
  }
  return grants;
}

}  // namespace tailgate

#include "gateway/auth.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tailgate {

namespace auth_internal {
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
// One usable verification key. HMAC secrets go to libjwt (`material`);
// public keys are parsed once, at start-up, into `pkey` and used with
// OpenSSL's EVP verification directly: libjwt 1.10 would re-parse the PEM on
// every call (~1 ms). An EVP_PKEY is safe to share between threads for
// verification (OpenSSL 3: each call makes its own EVP_MD_CTX).
struct VerifierKey {
  enum class Kind { kHmac, kRsa, kEc };
  Kind kind;
  std::string curve;  // OpenSSL group name for kEc ("prime256v1", ...)
  std::string material;  // kHmac: the secret
  std::shared_ptr<EVP_PKEY> pkey;  // kRsa, kEc
  size_t ec_coordinate_bytes = 0;  // kEc: bytes of r (and of s) in a JWS signature
  std::string kid;  // JWKS keys only
};
}  // namespace auth_internal

namespace {

using Key = auth_internal::VerifierKey;
using Kind = Key::Kind;

// Debian's Abseil is built with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0).
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

struct Algorithm {
  const char* name;
  jwt_alg_t alg;
  Kind kind;
  size_t min_secret_bytes;  // kHmac: RFC 7518 3.2, at least the hash size
  const char* curve;        // kEc: the curve RFC 7518 3.4 pairs it with
  int hash_bits;            // SHA-2 variant
};

constexpr Algorithm kAlgorithms[] = {
    {"HS256", JWT_ALG_HS256, Kind::kHmac, 32, nullptr, 256},
    {"HS384", JWT_ALG_HS384, Kind::kHmac, 48, nullptr, 384},
    {"HS512", JWT_ALG_HS512, Kind::kHmac, 64, nullptr, 512},
    {"RS256", JWT_ALG_RS256, Kind::kRsa, 0, nullptr, 256},
    {"RS384", JWT_ALG_RS384, Kind::kRsa, 0, nullptr, 384},
    {"RS512", JWT_ALG_RS512, Kind::kRsa, 0, nullptr, 512},
    {"ES256", JWT_ALG_ES256, Kind::kEc, 0, "prime256v1", 256},
    {"ES384", JWT_ALG_ES384, Kind::kEc, 0, "secp384r1", 384},
    {"ES512", JWT_ALG_ES512, Kind::kEc, 0, "secp521r1", 512},
};

const EVP_MD* HashOf(const Algorithm& a) {
  switch (a.hash_bits) {
    case 384: return EVP_sha384();
    case 512: return EVP_sha512();
    default: return EVP_sha256();
  }
}

constexpr int kMinRsaBits = 2048;

const Algorithm* FindAlgorithm(std::string_view name) {
  for (const Algorithm& a : kAlgorithms) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

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
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", AV(why)));
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// Loads every `PUBLIC KEY` block of `pem` as a verification key.
absl::Status LoadPublicKeys(const std::string& pem, std::vector<Key>* keys) {
  BioPtr in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!in) return absl::InternalError("out of memory reading the public key");
  int index = 0;
  while (true) {
    PkeyPtr key(PEM_read_bio_PUBKEY(in.get(), nullptr, nullptr, nullptr));
    if (!key) break;
    ++index;
    Key k;
    const int id = EVP_PKEY_get_base_id(key.get());
    if (id == EVP_PKEY_RSA) {
      if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
        return absl::InvalidArgumentError(
            absl::StrCat("public key ", index, " is a ", EVP_PKEY_get_bits(key.get()),
                         "-bit RSA key; at least ", kMinRsaBits, " bits are required"));
      }
      k.kind = Kind::kRsa;
    } else if (id == EVP_PKEY_EC) {
      char group[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_group_name(key.get(), group, sizeof(group), &len) != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("public key ", index, " is an EC key on an unnamed curve"));
      }
      k.kind = Kind::kEc;
      k.curve = std::string(group, len);
      k.ec_coordinate_bytes = static_cast<size_t>((EVP_PKEY_get_bits(key.get()) + 7) / 8);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "public key ", index, " is neither RSA nor EC (supported: RS256/384/512, ES256/384/512)"));
    }
    k.pkey = std::shared_ptr<EVP_PKEY>(key.release(), auth_internal::PkeyDeleter());
    keys->push_back(std::move(k));
  }
  if (index == 0) {
    return absl::InvalidArgumentError(
        "the public key file has no PEM 'PUBLIC KEY' block (SubjectPublicKeyInfo; a certificate "
        "or private key is not accepted)");
  }
  return absl::OkStatus();
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
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

}  // namespace

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string b64(in);
  for (char& c : b64) {
    if (!IsBase64UrlChar(c)) return std::nullopt;
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  const size_t pad = (4 - b64.size() % 4) % 4;
  b64.append(pad, '=');
  std::string out(b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

// RS*/ES* signature check of `signing_input` (header.payload) with OpenSSL:
// RSASSA-PKCS1-v1_5 (RFC 7518 3.3), or ECDSA with the JWS r||s encoding
// (RFC 7518 3.4) converted to DER for OpenSSL.
bool VerifyPublicKeySignature(const Key& key, const Algorithm& alg, std::string_view signing_input,
                              const std::string& signature) {
  std::string der;
  const std::string* sig = &signature;
  if (key.kind == Kind::kEc) {
    const size_t n = key.ec_coordinate_bytes;
    if (n == 0 || signature.size() != 2 * n) return false;
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> es(ECDSA_SIG_new());
    if (!es) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(signature.data());
    BIGNUM* r = BN_bin2bn(p, static_cast<int>(n), nullptr);
    BIGNUM* s = BN_bin2bn(p + n, static_cast<int>(n), nullptr);
    if (r == nullptr || s == nullptr || ECDSA_SIG_set0(es.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(es.get(), &out);
    if (len <= 0) return false;
    der.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
    OPENSSL_free(out);
    sig = &der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, HashOf(alg), nullptr, key.pkey.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()),
                          sig->size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
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

std::vector<std::string_view> Tokens(const store::TopicPattern& p) {
  std::vector<std::string_view> tokens;
  std::string_view s = p.str();
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      tokens.push_back(s.substr(start));
      return tokens;
    }
    tokens.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
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

// ---------------------------------------------------------------------------
// Authorization.

// Walks `requested` token by token, keeping the grants that can still match
// the topics it describes. A requested `*` stands for a fresh token equal to
// no literal: a grant survives it only with `*` (or `>`), and whatever covers
// the fresh token covers every literal too, since the set of surviving grants
// only grows when the token equals a grant's literal. Hence one pass, no
// backtracking: O(|requested| * total grant tokens).
bool PatternsCover(const std::vector<store::TopicPattern>& granted,
                   const store::TopicPattern& requested) {
  const std::vector<std::string_view> req = Tokens(requested);
  std::vector<std::vector<std::string_view>> grants;
  grants.reserve(granted.size());
  for (const store::TopicPattern& g : granted) grants.push_back(Tokens(g));
  // (grant index, position of its next token)
  std::vector<std::pair<size_t, size_t>> alive;
  for (size_t i = 0; i < grants.size(); ++i) alive.emplace_back(i, 0);

  for (size_t j = 0; j < req.size(); ++j) {
    // A grant at `>` matches any one or more tokens, and requested tokens
    // remain, each standing for at least one topic token.
    for (const auto& [g, i] : alive) {
      if (i < grants[g].size() && grants[g][i] == ">") return true;
    }
    if (req[j] == ">") {
      // Any number n >= 1 of fresh tokens must be matched. Only grants whose
      // rest is all `*` (n == k) or `*`^k `>` (n > k) match fresh tokens.
      std::vector<bool> exact;  // exact[n]: some grant matches exactly n
      size_t min_tail = std::numeric_limits<size_t>::max();
      for (const auto& [g, i] : alive) {
        const std::vector<std::string_view>& t = grants[g];
        size_t stars = 0;
        while (i + stars < t.size() && t[i + stars] == "*") ++stars;
        if (i + stars == t.size()) {
          if (exact.size() <= stars) exact.resize(stars + 1, false);
          exact[stars] = true;
        } else if (i + stars + 1 == t.size() && t[i + stars] == ">") {
          min_tail = std::min(min_tail, stars);
        }
      }
      if (min_tail == std::numeric_limits<size_t>::max()) return false;
      for (size_t n = 1; n <= min_tail; ++n) {
        if (n >= exact.size() || !exact[n]) return false;
      }
      return true;
    }
    std::vector<std::pair<size_t, size_t>> next;
    for (const auto& [g, i] : alive) {
      if (i >= grants[g].size()) continue;
      const std::string_view t = grants[g][i];
      if (t == "*" || (req[j] != "*" && t == req[j])) next.emplace_back(g, i + 1);
    }
    alive.swap(next);
    if (alive.empty()) return false;
  }
  for (const auto& [g, i] : alive) {
    if (i == grants[g].size()) return true;
  }
  return false;
}

bool Grants::MaySubscribe(const store::TopicPattern& requested) const {
  return PatternsCover(subscribe, requested);
}

bool Grants::MayPublish(std::string_view topic) const {
  for (const store::TopicPattern& p : publish) {
    if (p.Matches(topic)) return true;
  }
  return false;
}

absl::Status AuthorizeSubscribe(const Grants& grants,
                                const std::vector<store::TopicPattern>& requested) {
  for (const store::TopicPattern& p : requested) {
    if (!grants.MaySubscribe(p)) {
      return absl::PermissionDeniedError(
          absl::StrCat("token does not allow subscribing to \"", p.str(), "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status AuthorizePublish(const Grants& grants, std::string_view topic) {
  if (grants.MayPublish(topic)) return absl::OkStatus();
  // Topics are validated before this, so echoing one is safe; cap it anyway.
  return absl::PermissionDeniedError(absl::StrCat(
      "token does not allow publishing to \"", AV(topic.substr(0, store::kMaxTopicBytes)), "\""));
}

// ---------------------------------------------------------------------------
// Token extraction.

namespace {

constexpr std::string_view kQueryParam = "access_token";

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; nullopt on a broken escape.
std::optional<std::string> FormDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct QueryParam {
  size_t begin;  // offsets into the target
  size_t value_begin;  // == end when there is no '='
  size_t end;
  bool has_value;
};

// The parameters of `target`'s query whose decoded name is access_token.
std::vector<QueryParam> FindAccessTokenParams(std::string_view target) {
  std::vector<QueryParam> found;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return found;
  // A fragment never reaches a server; should one appear, it is treated as
  // query text, so whatever is parsed is also redacted.
  const size_t end_of_query = target.size();
  size_t start = q + 1;
  while (start <= end_of_query) {
    size_t amp = target.find('&', start);
    if (amp == std::string_view::npos || amp > end_of_query) amp = end_of_query;
    const std::string_view param = target.substr(start, amp - start);
    const size_t eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    const std::optional<std::string> decoded = FormDecode(name);
    if (decoded.has_value() && *decoded == kQueryParam) {
      const bool has_value = eq != std::string_view::npos;
      found.push_back(QueryParam{start, has_value ? start + eq + 1 : amp, amp, has_value});
    }
    start = amp + 1;
  }
  return found;
}

bool IsB64TokenChar(char c) {
  return IsBase64UrlChar(c) || c == '.' || c == '~' || c == '+' || c == '/';
}

}  // namespace

absl::Duration TokenTimeLeft(absl::Time valid_until, absl::Time now) {
  return std::min(std::max(valid_until - now, absl::ZeroDuration()), absl::Hours(24 * 36525));
}

absl::StatusOr<std::string> ParseBearer(std::string_view authorization) {
  std::string_view v = TrimOws(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (v.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(AV(v.substr(0, kScheme.size())), AV(kScheme)) ||
      (v.size() > kScheme.size() && v[kScheme.size()] != ' ')) {
    return absl::UnauthenticatedError("the Authorization header is not a Bearer token");
  }
  v = TrimOws(v.substr(kScheme.size()));
  if (v.empty()) return absl::UnauthenticatedError("the Authorization Bearer token is empty");
  // RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
  size_t i = 0;
  while (i < v.size() && IsB64TokenChar(v[i])) ++i;
  while (i < v.size() && v[i] == '=') ++i;
  if (i != v.size() || v.front() == '=') {
    return absl::UnauthenticatedError(
        "the Authorization Bearer token has characters outside the token68 syntax");
  }
  return std::string(v);
}

std::optional<std::string> FindCookie(std::string_view cookie_header, std::string_view name) {
  if (name.empty()) return std::nullopt;
  size_t start = 0;
  while (start <= cookie_header.size()) {
    size_t semi = cookie_header.find(';', start);
    if (semi == std::string_view::npos) semi = cookie_header.size();
    const std::string_view pair = TrimOws(cookie_header.substr(start, semi - start));
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && TrimOws(pair.substr(0, eq)) == name) {
      std::string_view value = TrimOws(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
    start = semi + 1;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<ExtractedToken>> ExtractHttpToken(std::string_view authorization,
                                                               std::string_view cookie,
                                                               std::string_view target,
                                                               const TokenSources& sources) {
  using Result = std::optional<ExtractedToken>;
  if (!TrimOws(authorization).empty()) {
    absl::StatusOr<std::string> token = ParseBearer(authorization);
    if (!token.ok()) return token.status();
    return Result(ExtractedToken{*std::move(token), TokenSource::kAuthorizationHeader});
  }
  if (!sources.cookie_name.empty()) {
    std::optional<std::string> value = FindCookie(cookie, sources.cookie_name);
    if (value.has_value() && !value->empty()) {
      return Result(ExtractedToken{*std::move(value), TokenSource::kCookie});
    }
  }
  const std::vector<QueryParam> params = FindAccessTokenParams(target);
  if (params.empty()) return Result();
  if (!sources.allow_query_param) {
    return absl::UnauthenticatedError(
        absl::StrCat("the access_token query parameter is disabled on this server; send the token "
                     "in an Authorization: Bearer header",
                     sources.cookie_name.empty()
                         ? std::string()
                         : absl::StrCat(" or the '", sources.cookie_name, "' cookie")));
  }
  if (params.size() > 1) {
    return absl::UnauthenticatedError("the access_token query parameter is repeated");
  }
  const QueryParam& p = params.front();
  std::optional<std::string> value =
      FormDecode(target.substr(p.value_begin, p.end - p.value_begin));
  if (!value.has_value()) {
    return absl::UnauthenticatedError("the access_token query parameter has a broken %-escape");
  }
  if (value->empty()) return absl::UnauthenticatedError("the access_token query parameter is empty");
  return Result(ExtractedToken{*std::move(value), TokenSource::kQueryParam});
}

namespace {

constexpr std::string_view kRedacted = "REDACTED";

// Whether a query parameter named `name` (as received) carries a credential:
// its decoded name, lower-cased without '-', '_', '.' or spaces, is one of the
// usual short names or contains one of the usual stems. Deliberately broad:
// a wrongly spelled access_token (`Access_Token`, `access-token`, `token`,
// `jwt`...) must not reach a log, and redacting a harmless parameter costs
// only a little debugging detail.
bool IsCredentialName(std::string_view name) {
  std::string n;
  for (char c : FormDecode(name).value_or(std::string(name))) {
    if (c == '-' || c == '_' || c == '.' || c == ' ') continue;
    n.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  for (std::string_view exact : {"key", "sig", "code", "auth", "pass", "pwd", "sid", "otp"}) {
    if (n == exact) return true;
  }
  for (std::string_view stem : {"token", "jwt", "secret", "passw", "apikey", "bearer", "credential",
                                "authoriz", "session", "signature", "cookie"}) {
    if (n.find(stem) != std::string::npos) return true;
  }
  return false;
}

// Whether `text` contains something shaped like a compact JWT (JWS: three
// dot-separated base64url parts; JWE: five) whose first part decodes to a
// JSON object naming an "alg", as every JOSE header does. The header check
// keeps ordinary dotted values (topics such as "orders.eu.1") readable.
bool ContainsJwt(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (!IsBase64UrlChar(text[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && (IsBase64UrlChar(text[j]) || text[j] == '.')) ++j;
    const std::string_view run = text.substr(i, j - i);
    i = j;
    const size_t dot = run.find('.');
    if (dot == std::string_view::npos || dot == 0) continue;
    size_t parts = 1;
    for (char c : run) parts += c == '.' ? 1 : 0;
    if (parts != 3 && parts != 5) continue;
    const std::optional<std::string> header = Base64UrlDecode(run.substr(0, dot));
    if (!header) continue;
    const size_t first = header->find_first_not_of(" \t\r\n");
    if (first != std::string::npos && (*header)[first] == '{' &&
        header->find("\"alg\"") != std::string::npos) {
      return true;
    }
  }
  return false;
}

// Whether one query parameter's value (raw) must not be logged.
bool IsCredentialValue(std::string_view raw) {
  const std::optional<std::string> decoded = FormDecode(raw);
  if (ContainsJwt(raw) || (decoded && ContainsJwt(*decoded))) return true;
  // "a=1;token=..." style sub-parameters inside a value.
  const std::string_view value = decoded ? std::string_view(*decoded) : raw;
  for (size_t start = 0; start < value.size();) {
    size_t end = value.find_first_of(";&", start);
    if (end == std::string_view::npos) end = value.size();
    const std::string_view piece = value.substr(start, end - start);
    const size_t eq = piece.find('=');
    if (eq != std::string_view::npos && IsCredentialName(piece.substr(0, eq))) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::string RedactCredentials(std::string_view target) {
  std::string out;
  out.reserve(target.size());
  const size_t q = std::min(target.find('?'), target.size());
  // The path: a segment that carries a JWT goes whole.
  for (size_t start = 0; start < q;) {
    size_t end = target.find('/', start);
    if (end == std::string_view::npos || end > q) end = q;
    const std::string_view segment = target.substr(start, end - start);
    out.append(ContainsJwt(segment) || ContainsJwt(FormDecode(segment).value_or(""))
                   ? std::string_view(kRedacted)
                   : segment);
    if (end < q) out.push_back('/');
    start = end + 1;
  }
  if (q == target.size()) return out;
  out.push_back('?');
  // The query (and a fragment, should one arrive: treated as query text),
  // split on '&' as ExtractHttpToken does: name=value keeps its name and loses
  // its value; a bare parameter that is a JWT goes whole.
  const std::string_view query = target.substr(q + 1);
  for (size_t start = 0; start <= query.size();) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view param = query.substr(start, end - start);
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) {
      out.append(IsCredentialValue(param) ? std::string_view(kRedacted) : param);
    } else {
      const std::string_view name = param.substr(0, eq);
      const std::string_view value = param.substr(eq + 1);
      out.append(name);
      out.push_back('=');
      out.append(IsCredentialName(name) || IsCredentialValue(value) ? std::string_view(kRedacted)
                                                                    : value);
    }
    if (end < query.size()) out.push_back('&');
    start = end + 1;
  }
  return out;
}

}  // namespace tailgate

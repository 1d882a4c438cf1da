#include "gateway/auth/token_mint.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <memory>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "store/topic.h"

namespace tailgate {
namespace {

struct Algorithm {
  const char* name;
  jwt_alg_t alg;
  int key_type;            // EVP_PKEY_RSA, EVP_PKEY_EC, or EVP_PKEY_NONE for HMAC
  const char* curve;       // EC: OpenSSL's group name
  size_t min_secret_bytes;  // HMAC: what JwtVerifier::Create demands
};

constexpr Algorithm kAlgorithms[] = {
    {"HS256", JWT_ALG_HS256, EVP_PKEY_NONE, nullptr, 32},
    {"HS384", JWT_ALG_HS384, EVP_PKEY_NONE, nullptr, 48},
    {"HS512", JWT_ALG_HS512, EVP_PKEY_NONE, nullptr, 64},
    {"RS256", JWT_ALG_RS256, EVP_PKEY_RSA, nullptr, 0},
    {"RS384", JWT_ALG_RS384, EVP_PKEY_RSA, nullptr, 0},
    {"RS512", JWT_ALG_RS512, EVP_PKEY_RSA, nullptr, 0},
    {"ES256", JWT_ALG_ES256, EVP_PKEY_EC, "prime256v1", 0},
    {"ES384", JWT_ALG_ES384, EVP_PKEY_EC, "secp384r1", 0},
    {"ES512", JWT_ALG_ES512, EVP_PKEY_EC, "secp521r1", 0},
};

const Algorithm* Find(std::string_view name) {
  for (const Algorithm& a : kAlgorithms) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct JsonFree {
  void operator()(json_t* j) const { json_decref(j); }
};
struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonFree>;

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

// The algorithm for `key`: the requested one if the key can sign it.
absl::StatusOr<const Algorithm*> ChooseAlgorithm(const TokenSpec& spec, std::string* hmac_secret) {
  const Algorithm* requested = nullptr;
  if (!spec.algorithm.empty()) {
    requested = Find(spec.algorithm);
    if (requested == nullptr) {
      return Invalid(absl::StrCat("unknown algorithm '", spec.algorithm,
                                  "' (HS256/384/512, RS256/384/512, ES256/384/512)"));
    }
  }
  if (!absl::StrContains(spec.key, "-----BEGIN")) {
    *hmac_secret = spec.key;  // the gateway's --jwt_hs256_secret_file rule
    if (!hmac_secret->empty() && hmac_secret->back() == '\n') hmac_secret->pop_back();
    if (!hmac_secret->empty() && hmac_secret->back() == '\r') hmac_secret->pop_back();
    const Algorithm* a = requested != nullptr ? requested : Find("HS256");
    if (a->key_type != EVP_PKEY_NONE) {
      return Invalid(absl::StrCat(a->name, " needs a PEM private key; the key file is not PEM"));
    }
    if (hmac_secret->size() < a->min_secret_bytes) {
      return Invalid(absl::StrCat(a->name, " needs a secret of at least ", a->min_secret_bytes,
                                  " bytes (the gateway refuses shorter ones); it has ",
                                  hmac_secret->size()));
    }
    return a;
  }
  if (!absl::StrContains(spec.key, "PRIVATE KEY")) {
    return Invalid("the key file holds no PEM private key (signing needs the private key; the "
                   "gateway's --jwt_public_key_file takes the public one)");
  }
  BIO* bio = BIO_new_mem_buf(spec.key.data(), static_cast<int>(spec.key.size()));
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(
      bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (pkey == nullptr) return Invalid("cannot parse the PEM private key (encrypted keys are not supported)");
  const int type = EVP_PKEY_get_base_id(pkey.get());
  char group[64] = "";
  size_t group_len = 0;
  if (type == EVP_PKEY_EC &&
      EVP_PKEY_get_group_name(pkey.get(), group, sizeof group, &group_len) != 1) {
    return Invalid("cannot read the EC key's curve");
  }
  if (requested != nullptr) {
    if (requested->key_type != type ||
        (type == EVP_PKEY_EC && std::string_view(group) != requested->curve)) {
      return Invalid(absl::StrCat(requested->name, " cannot be signed with this key"));
    }
    return requested;
  }
  for (const Algorithm& a : kAlgorithms) {
    if (a.key_type == type && (type != EVP_PKEY_EC || std::string_view(group) == a.curve)) {
      return &a;
    }
  }
  return Invalid("the private key is neither RSA nor EC on P-256, P-384 or P-521");
}

absl::StatusOr<JsonPtr> PatternArray(const std::vector<std::string>& patterns, const char* flag) {
  JsonPtr array(json_array());
  for (const std::string& p : patterns) {
    // Checked here because the verifier refuses a token with a bad pattern.
    if (absl::StatusOr<store::TopicPattern> parsed = store::TopicPattern::Parse(p, flag);
        !parsed.ok()) {
      return parsed.status();
    }
    json_array_append_new(array.get(), json_string(p.c_str()));
  }
  return array;
}

}  // namespace

absl::StatusOr<std::string> MintToken(const TokenSpec& spec, absl::Time now) {
  if (spec.ttl <= absl::ZeroDuration()) return Invalid("ttl must be > 0");
  if (spec.claim.empty()) return Invalid("the claim name is empty");
  std::string secret;
  absl::StatusOr<const Algorithm*> alg = ChooseAlgorithm(spec, &secret);
  if (!alg.ok()) return alg.status();

  JsonPtr payload(json_object());
  if (!spec.subject.empty()) json_object_set_new(payload.get(), "sub", json_string(spec.subject.c_str()));
  json_object_set_new(payload.get(), "iat", json_integer(absl::ToUnixSeconds(now)));
  json_object_set_new(payload.get(), "exp", json_integer(absl::ToUnixSeconds(now + spec.ttl)));
  if (!spec.issuer.empty()) json_object_set_new(payload.get(), "iss", json_string(spec.issuer.c_str()));
  if (!spec.audience.empty()) {
    json_object_set_new(payload.get(), "aud", json_string(spec.audience.c_str()));
  }
  absl::StatusOr<JsonPtr> subscribe = PatternArray(spec.subscribe, "subscribe");
  if (!subscribe.ok()) return subscribe.status();
  absl::StatusOr<JsonPtr> publish = PatternArray(spec.publish, "publish");
  if (!publish.ok()) return publish.status();
  JsonPtr grants(json_object());
  json_object_set(grants.get(), "subscribe", subscribe->get());
  json_object_set(grants.get(), "publish", publish->get());
  json_object_set_new(grants.get(), "admin", json_boolean(spec.admin));
  json_object_set(payload.get(), spec.claim.c_str(), grants.get());
  std::unique_ptr<char, decltype(&std::free)> text(json_dumps(payload.get(), JSON_COMPACT),
                                                   &std::free);

  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::InternalError("jwt_new failed");
  std::unique_ptr<jwt_t, JwtFree> jwt(raw);
  if (jwt_add_grants_json(jwt.get(), text.get()) != 0) {
    return absl::InternalError("libjwt refused the claims");
  }
  const std::string& key = (*alg)->key_type == EVP_PKEY_NONE ? secret : spec.key;
  if (jwt_set_alg(jwt.get(), (*alg)->alg, reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) != 0) {
    return Invalid(absl::StrCat("libjwt refused the key for ", (*alg)->name));
  }
  std::unique_ptr<char, decltype(&std::free)> token(jwt_encode_str(jwt.get()), &std::free);
  if (token == nullptr) return Invalid(absl::StrCat("signing with ", (*alg)->name, " failed"));
  return std::string(token.get());
}

}  // namespace tailgate

#include "gateway/auth/keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace tailgate {
namespace auth_internal {

namespace {

using Key = VerifierKey;
using Kind = Key::Kind;

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

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

}  // namespace

const Algorithm* FindAlgorithm(std::string_view name) {
  for (const Algorithm& a : kAlgorithms) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

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
    k.pkey = std::shared_ptr<EVP_PKEY>(key.release(), PkeyDeleter());
    keys->push_back(std::move(k));
  }
  if (index == 0) {
    return absl::InvalidArgumentError(
        "the public key file has no PEM 'PUBLIC KEY' block (SubjectPublicKeyInfo; a certificate "
        "or private key is not accepted)");
  }
  return absl::OkStatus();
}

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

}  // namespace auth_internal
}  // namespace tailgate

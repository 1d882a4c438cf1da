#include "gateway/auth/jwks.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/auth/base64url.h"
#include "gateway/diag/logging.h"
#include "gateway/diag/metrics.h"
#include "store/absl_view.h"

namespace tailgate {
namespace {

constexpr size_t kMaxDocumentBytes = 1 << 20;

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0).

struct JsonDecref {
  void operator()(json_t* j) const { json_decref(j); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

// A base64url member of a JWK, decoded.
absl::StatusOr<std::string> Member(json_t* jwk, const char* name) {
  const json_t* v = json_object_get(jwk, name);
  if (!json_is_string(v)) return absl::InvalidArgumentError(absl::StrCat("no '", name, "'"));
  std::optional<std::string> bytes =
      Base64UrlDecode(std::string_view(json_string_value(v), json_string_length(v)));
  if (!bytes || bytes->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("'", name, "' is not base64url"));
  }
  return *std::move(bytes);
}

absl::StatusOr<std::string> PemOf(EVP_PKEY* key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    return absl::InternalError("cannot encode the key");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

// The public key of a JWK built from OpenSSL parameters of `type` ("RSA", "EC").
absl::StatusOr<std::string> KeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError("OpenSSL refused the key parameters");
  }
  std::unique_ptr<EVP_PKEY, PkeyFree> key(raw);
  if (std::string_view(type) == "EC") {
    // fromdata does not check that the point is on the curve.
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) {
      return absl::InvalidArgumentError("the EC point is not on the curve");
    }
  }
  return PemOf(key.get());
}

absl::StatusOr<std::string> RsaPem(json_t* jwk) {
  absl::StatusOr<std::string> n = Member(jwk, "n");
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> e = Member(jwk, "e");
  if (!e.ok()) return e.status();
  auto bn = [](const std::string& bytes) {
    return std::unique_ptr<BIGNUM, BnFree>(BN_bin2bn(
        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
  };
  std::unique_ptr<BIGNUM, BnFree> bn_n = bn(*n), bn_e = bn(*e);
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return absl::InternalError("out of memory");
  }
  return KeyFromParams("RSA", bld.get());
}

absl::StatusOr<std::string> EcPem(json_t* jwk) {
  const json_t* crv = json_object_get(jwk, "crv");
  const std::string_view curve = json_is_string(crv) ? json_string_value(crv) : "";
  size_t bytes = 0;
  if (curve == "P-256") {
    bytes = 32;
  } else if (curve == "P-384") {
    bytes = 48;
  } else if (curve == "P-521") {
    bytes = 66;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported curve '", AbslView(curve), "' (P-256, P-384, P-521)"));
  }
  absl::StatusOr<std::string> x = Member(jwk, "x");
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y = Member(jwk, "y");
  if (!y.ok()) return y.status();
  if (x->size() != bytes || y->size() != bytes) {
    return absl::InvalidArgumentError(absl::StrCat("'x' and 'y' must be ", bytes, " bytes on ", AbslView(curve)));
  }
  const std::string point = "\x04" + *x + *y;  // Uncompressed SEC1 point.
  const std::string group(curve);
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.c_str(), 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return absl::InternalError("out of memory");
  }
  return KeyFromParams("EC", bld.get());
}

// The file's identity and version: a rewrite in place or a rename over it
// changes it.
std::string FileVersion(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat(st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

size_t CurlWrite(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  const size_t n = size * count;
  if (out->size() + n > kMaxDocumentBytes) return 0;  // Aborts the transfer.
  out->append(data, n);
  return n;
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

}  // namespace

absl::StatusOr<ParsedJwks> ParseJwks(std::string_view text) {
  json_error_t error;
  std::unique_ptr<json_t, JsonDecref> root(json_loadb(text.data(), text.size(), 0, &error));
  if (root == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", error.text, " (line ",
                                                   error.line, ", column ", error.column, ")"));
  }
  json_t* keys = json_object_get(root.get(), "keys");
  if (!json_is_array(keys)) return absl::InvalidArgumentError("no \"keys\" array");
  ParsedJwks out;
  size_t index;
  json_t* jwk;
  json_array_foreach(keys, index, jwk) {
    const json_t* kid_json = json_object_get(jwk, "kid");
    const std::string kid = json_is_string(kid_json) ? json_string_value(kid_json) : "";
    const std::string where = absl::StrCat("keys[", index, "]", kid.empty() ? "" : " (kid \"" + kid + "\")");
    if (!json_is_object(jwk)) {
      out.skipped.push_back(where + ": not an object");
      continue;
    }
    const json_t* kty = json_object_get(jwk, "kty");
    const json_t* use = json_object_get(jwk, "use");
    const std::string_view type = json_is_string(kty) ? json_string_value(kty) : "";
    if (use != nullptr && !(json_is_string(use) && std::string_view(json_string_value(use)) == "sig")) {
      out.skipped.push_back(where + ": not a signing key (use)");
      continue;
    }
    if (json_object_get(jwk, "d") != nullptr) {
      // A private key published by mistake: refusing it makes the mistake visible.
      out.skipped.push_back(where + ": holds private key material ('d'); not used");
      continue;
    }
    absl::StatusOr<std::string> pem =
        type == "RSA" ? RsaPem(jwk)
        : type == "EC" ? EcPem(jwk)
                       : absl::InvalidArgumentError(absl::StrCat(
                             "key type '", AbslView(type), "' is not supported (RSA, EC)"));
    if (!pem.ok()) {
      out.skipped.push_back(absl::StrCat(where, ": ", pem.status().message()));
      continue;
    }
    out.keys.push_back({kid, *std::move(pem)});
  }
  return out;
}

absl::StatusOr<std::string> HttpsGet(const std::string& url, const std::string& ca_file,
                                     absl::Duration timeout) {
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) return absl::InternalError("curl_easy_init failed");
  std::string body;
  char error[CURL_ERROR_SIZE] = {0};
  const long timeout_ms = static_cast<long>(absl::ToInt64Milliseconds(timeout));
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // Threads: no SIGALRM for DNS timeouts.
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CurlWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "tailgate-jwks");
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(
        rc == CURLE_WRITE_ERROR ? "document larger than 1 MiB" : (error[0] ? error : curl_easy_strerror(rc))));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return absl::UnavailableError(absl::StrCat("HTTP status ", status));
  return body;
}

// The provider's thread and the verifier's unknown-kid hook meet here; the
// hook keeps it alive, so a hook running late touches no freed memory.
struct JwksProvider::Shared {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;             // Guarded by mu.
  bool refetch = false;          // Guarded by mu: a token named an unknown kid.
};

JwksProvider::JwksProvider(const AuthConfig& config, JwtVerifier* verifier,
                           MetricsRegistry* metrics)
    : config_(config), verifier_(verifier), shared_(std::make_shared<Shared>()) {
  if (metrics != nullptr) {
    constexpr char kHelp[] =
        "Loads of the JWKS document (--auth_jwks_file / --auth_jwks_url): ok, or error (the "
        "previous keys stay in use).";
    loaded_ = metrics->GetCounter("tailgate_jwks_refresh_total", kHelp, {{"result", "ok"}});
    failed_ = metrics->GetCounter("tailgate_jwks_refresh_total", kHelp, {{"result", "error"}});
    metrics->AddCallbackGauge("tailgate_jwks_keys", "JWT verification keys from the JWKS in use.",
                              [v = verifier_] { return static_cast<double>(v->jwks_key_count()); });
  }
}

absl::StatusOr<std::unique_ptr<JwksProvider>> JwksProvider::Start(const AuthConfig& config,
                                                                  JwtVerifier* verifier,
                                                                  MetricsRegistry* metrics) {
  if (!config.jwks_file.empty() && !config.jwks_url.empty()) {
    return absl::InvalidArgumentError("--auth_jwks_file and --auth_jwks_url: choose one");
  }
  if (!config.jwks_url.empty() &&
      !absl::StartsWithIgnoreCase(AbslView(config.jwks_url), "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth_jwks_url=", config.jwks_url, ": must be an https:// URL"));
  }
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<JwksProvider> p(new JwksProvider(config, verifier, metrics));
  if (!p->Load()) {
    if (!config.jwks_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth_jwks_file=", config.jwks_file, ": ", p->last_error_));
    }
    // The provider may come back; tokens signed by its keys fail until then.
    TG_LOG(WARNING) << "--auth_jwks_url: no keys yet (" << p->last_error_
                    << "); retrying in the background";
  }
  verifier->set_unknown_kid_hook([shared = p->shared_] {
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->refetch = true;
    }
    shared->cv.notify_one();
  });
  p->thread_ = std::thread([raw = p.get()] { raw->Loop(); });
  return p;
}

JwksProvider::~JwksProvider() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->stop = true;
  }
  shared_->cv.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool JwksProvider::Load() {
  const bool from_file = !config_.jwks_file.empty();
  const std::string source =
      from_file ? "--auth_jwks_file=" + config_.jwks_file : "--auth_jwks_url=" + config_.jwks_url;
  absl::StatusOr<std::string> text;
  std::string version;
  if (from_file) {
    version = FileVersion(config_.jwks_file);
    std::ifstream in(config_.jwks_file, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text = in.good() || in.eof() ? absl::StatusOr<std::string>(std::move(data))
                                 : absl::UnavailableError("cannot read");
    if (version.empty()) text = absl::UnavailableError("cannot read");
  } else {
    text = HttpsGet(config_.jwks_url, config_.jwks_ca_file, absl::Seconds(10));
  }
  absl::StatusOr<ParsedJwks> parsed =
      text.ok() ? ParseJwks(*text) : absl::StatusOr<ParsedJwks>(text.status());
  absl::Status installed = parsed.ok() ? verifier_->SetJwksKeys(parsed->keys) : parsed.status();
  if (from_file) file_version_ = version;  // A broken version is not retried until it changes.
  if (!installed.ok()) {
    last_error_ = std::string(installed.message());
    if (failed_ != nullptr) failed_->Increment();
    static LogThrottle throttle(absl::Seconds(30));
    if (uint64_t held = 0; throttle.Admit(&held)) {
      TG_LOG(WARNING) << source << ": " << last_error_ << "; keeping the "
                      << verifier_->jwks_key_count() << " key(s) in use" << Held(held);
    }
    return false;
  }
  if (loaded_ != nullptr) loaded_->Increment();
  for (const std::string& why : parsed->skipped) TG_LOG(WARNING) << source << ": skipped " << why;
  std::vector<std::string> kids;
  for (const KeyedPublicKey& k : parsed->keys) kids.push_back(k.kid.empty() ? "(no kid)" : k.kid);
  TG_LOG(INFO) << source << ": " << parsed->keys.size() << " key(s): " << absl::StrJoin(kids, ", ");
  return true;
}

void JwksProvider::Loop() {
  const bool from_file = !config_.jwks_file.empty();
  const absl::Duration period = from_file ? config_.jwks_file_poll : config_.jwks_refresh;
  // After a failed fetch, retry sooner than the refresh period.
  const absl::Duration retry = std::min(period, std::max(config_.jwks_min_refetch, absl::Seconds(1)));
  absl::Time next = absl::Now() + period;
  absl::Time last_attempt = absl::Now();
  std::unique_lock<std::mutex> lock(shared_->mu);
  while (!shared_->stop) {
    // The periodic load at `next`; a requested one (unknown kid) sooner, but
    // not before the rate limit allows.
    absl::Time wake = next;
    if (shared_->refetch) wake = std::min(wake, last_attempt + config_.jwks_min_refetch);
    if (absl::Now() < wake) {
      const bool requested = shared_->refetch;
      // Wakes early on stop or on a new request (then `wake` is recomputed).
      shared_->cv.wait_until(lock, absl::ToChronoTime(wake),
                             [&] { return shared_->stop || shared_->refetch != requested; });
      continue;
    }
    shared_->refetch = false;
    lock.unlock();
    bool ok = true;
    if (!from_file || FileVersion(config_.jwks_file) != file_version_) ok = Load();
    last_attempt = absl::Now();
    next = last_attempt + (ok || from_file ? period : retry);
    lock.lock();
  }
}

}  // namespace tailgate

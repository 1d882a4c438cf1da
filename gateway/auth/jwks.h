// JWT verification keys from an identity provider's JWKS document (RFC 7517):
// --auth_jwks_file (re-read when it changes) or --auth_jwks_url (HTTPS,
// fetched with libcurl, refreshed periodically and when a token names an
// unknown `kid`, rate-limited).
//
// Requests never wait for the provider: JwtVerifier checks tokens against
// the key set in memory; JwksProvider replaces that set from its own thread.
// A document that cannot be fetched or parsed leaves the current set in
// place (stale keys keep working while the provider is unreachable); a
// document that parses replaces the set whole, so a key removed at the
// provider is refused from then on.
//
// Keys: RSA (`n`, `e`; at least 2048 bits) and EC (`crv` P-256/P-384/P-521,
// `x`, `y`) public keys, converted to SubjectPublicKeyInfo with OpenSSL.
// Keys with `use` other than "sig", symmetric (`oct`) keys and private
// members (`d`) are skipped, never trusted. libjwt 1.10 (bookworm) has no
// JWKS support.
#ifndef TAILGATE_GATEWAY_AUTH_JWKS_H_
#define TAILGATE_GATEWAY_AUTH_JWKS_H_

#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/auth/verifier.h"
#include "gateway/config.h"

namespace tailgate {

class MetricsRegistry;
class Counter;

struct ParsedJwks {
  std::vector<KeyedPublicKey> keys;
  std::vector<std::string> skipped;  // One reason per key not used.
};

// The usable signing keys of a JWKS document. INVALID_ARGUMENT when it is
// not JSON or has no `keys` array; single bad keys are skipped with a reason.
absl::StatusOr<ParsedJwks> ParseJwks(std::string_view json);

// Fetches `url` (https only, redirects to https only) with a time limit;
// `ca_file` empty = the system's roots. The body, at most 1 MiB, of a 200.
absl::StatusOr<std::string> HttpsGet(const std::string& url, const std::string& ca_file,
                                     absl::Duration timeout);

class JwksProvider {
 public:
  // Loads the document once (a file must load; a URL that fails is logged
  // and retried in the background), installs the keys in `verifier`, hooks
  // the verifier's unknown-kid callback and starts the refresh thread.
  // `verifier` must outlive the provider; `metrics` (optional) too.
  static absl::StatusOr<std::unique_ptr<JwksProvider>> Start(const AuthConfig& config,
                                                             JwtVerifier* verifier,
                                                             MetricsRegistry* metrics);
  // Stops and joins the thread.
  ~JwksProvider();

  JwksProvider(const JwksProvider&) = delete;
  JwksProvider& operator=(const JwksProvider&) = delete;

 private:
  struct Shared;  // State shared with the verifier's hook; outlives the provider if need be.
  JwksProvider(const AuthConfig& config, JwtVerifier* verifier, MetricsRegistry* metrics);
  // Fetches/reads and installs the document; false on failure (logged).
  bool Load();
  void Loop();

  const AuthConfig config_;
  JwtVerifier* const verifier_;
  Counter* loaded_ = nullptr;  // tailgate_jwks_refresh_total{result="ok"}
  Counter* failed_ = nullptr;  // {result="error"}
  std::shared_ptr<Shared> shared_;
  // Only the provider's thread (after Start) touches these.
  std::string file_version_;  // mtime/size/inode of the file last loaded.
  std::string last_error_;
  std::thread thread_;
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_AUTH_JWKS_H_

// Unpadded base64url (RFC 7515 section 2), the encoding of every part of a
// compact JWS: used to read signatures (verifier), JWK members (jwks) and to
// recognize JWTs in logged request targets (redact).
//
// Pure functions; thread-safe.
#ifndef TAILGATE_GATEWAY_AUTH_BASE64URL_H_
#define TAILGATE_GATEWAY_AUTH_BASE64URL_H_

#include <optional>
#include <string>
#include <string_view>

namespace tailgate {

// True for the 64 characters of the base64url alphabet.
inline bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Unpadded base64url to bytes, with OpenSSL's decoder; nullopt when
// malformed (a character outside the alphabet, a bad length).
std::optional<std::string> Base64UrlDecode(std::string_view in);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_AUTH_BASE64URL_H_

// Credentials out of logged request targets. Every request target the
// gateway logs goes through RedactCredentials first.
//
// Pure function; thread-safe.
#ifndef TAILGATE_GATEWAY_AUTH_REDACT_H_
#define TAILGATE_GATEWAY_AUTH_REDACT_H_

#include <string>
#include <string_view>

namespace tailgate {

// `target` ("/path?query") fit for a log: every credential replaced by
// "REDACTED", everything else byte for byte. The one function for every
// logged request target, since a client may put a token anywhere:
//  - a query parameter whose name is credential-like in any spelling
//    (access_token, Access_Token, access-token, token, jwt, id_token,
//    api_key, password, session, ...; case, '-', '_' and '.' ignored):
//    its value;
//  - any query value (or bare parameter, or path segment) containing a
//    compact JWT (xxx.yyy.zzz base64url whose header decodes to a JSON
//    object), %-encoded or not, or a `;name=`/`&name=` credential inside it:
//    the value (or parameter, or segment) whole.
// The query is split and decoded as gateway/http/query.h reads it, so what
// token extraction would find is what is redacted.
// Idempotent. Names are kept, so the log still shows which parameter came.
std::string RedactCredentials(std::string_view target);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_AUTH_REDACT_H_

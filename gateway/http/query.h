// The query string of a request target, read by one set of rules for every
// reader: SSE request parsing (gateway/sse/request.cc), token extraction
// (gateway/auth/token_extraction.h) and log redaction
// (gateway/auth/redact.h). One parser, so that the parameters a request is
// served with are the ones its token was looked for in and the ones
// redacted from its log line.
//
// Rules:
//  - the query is everything after the first '?' of the target; a '#' is
//    query text too (a fragment never reaches a server; should one arrive,
//    what is parsed is also what is redacted);
//  - parameters are separated by '&' only; a name ends at its first '=';
//    a parameter without '=' has an empty value;
//  - names and values are application/x-www-form-urlencoded: '+' is a space,
//    %XX (either case) is that byte;
//  - a malformed escape ('%' not followed by two hex digits) is kept
//    literally, never an error: docs/api.md lists no 400 for it, and
//    ?bad=%zz is served as before. Readers that need stricter text check the
//    decoded value themselves (a query token must be token68, like a
//    Bearer token).
//
// Pure functions; thread-safe. Views returned point into the caller's text.
#ifndef TAILGATE_GATEWAY_HTTP_QUERY_H_
#define TAILGATE_GATEWAY_HTTP_QUERY_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tailgate {

// The text after the first '?' of `target` ("/v1/events?a=1" -> "a=1");
// empty when there is none.
std::string_view QueryOf(std::string_view target);

// One '&'-separated piece of a query, as received (not decoded).
struct RawQueryParam {
  std::string_view name;
  std::string_view value;  // empty when !has_value
  bool has_value;          // the piece had a '='
};

// Every piece of `query`, in order, empty pieces ("a&&b", a trailing '&')
// included, so that a caller can rebuild the query byte for byte.
std::vector<RawQueryParam> SplitQuery(std::string_view query);

// Decodes '+' and %XX; malformed escapes are kept literally. Never longer
// than `in`; the identity on text without '%' and '+'.
std::string UrlDecode(std::string_view in);

// Splits "a=1&b=2" into decoded (name, value) pairs, in order; empty pieces
// are skipped.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_HTTP_QUERY_H_

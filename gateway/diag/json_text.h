// JSON string literals for the gateway's own JSON output (log lines, HTTP
// error bodies). Pure, thread-safe.
#ifndef TAILGATE_GATEWAY_DIAG_JSON_TEXT_H_
#define TAILGATE_GATEWAY_DIAG_JSON_TEXT_H_

#include <string>
#include <string_view>

namespace tailgate {

// Appends `s` as a quoted JSON string. The text is ours but may quote client
// input: control characters are escaped, and if `s` is not valid UTF-8 every
// byte >= 0x80 becomes U+FFFD, so the output is always valid JSON.
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_DIAG_JSON_TEXT_H_

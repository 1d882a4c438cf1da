#include "gateway/diag/json_text.h"

#include <cstdio>

#include "store/topic.h"

namespace tailgate {

void AppendJsonString(std::string* out, std::string_view s) {
  const bool utf8 = store::IsValidUtf8(s);
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else if (c >= 0x80 && !utf8) {
          out->append("\\ufffd");
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

}  // namespace tailgate

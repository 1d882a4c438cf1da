#include "gateway/sse/codec.h"

#include "absl/strings/str_cat.h"

namespace tailgate {

namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void AppendSseFrame(uint64_t id, std::string_view type, std::string_view data, std::string* out) {
  absl::StrAppend(out, "id: ", id, "\n");
  if (!type.empty()) absl::StrAppend(out, "event: ", Av(type), "\n");
  // One data: line per line; CRLF, CR and LF all end a line (as the SSE
  // parser treats them), so each is re-emitted as a line break.
  size_t start = 0;
  while (true) {
    size_t end = data.find_first_of("\r\n", start);
    out->append("data: ");
    if (end == std::string_view::npos) {
      out->append(data.data() + start, data.size() - start);
      out->push_back('\n');
      break;
    }
    out->append(data.data() + start, end - start);
    out->push_back('\n');
    start = end + ((data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1);
  }
  out->push_back('\n');
}

std::string EncodeSseFrame(uint64_t id, std::string_view type, std::string_view data) {
  std::string out;
  out.reserve(data.size() + type.size() + 48);
  AppendSseFrame(id, type, data, &out);
  return out;
}

std::string EncodeResetFrame(const Reset& reset) {
  return EncodeSseFrame(reset.resume, kResetEventType, ResetJson(reset));
}

std::string EncodeLiveFrame(uint64_t live_at) {
  return absl::StrCat("event: ", Av(kLiveEventType), "\ndata: ", LiveJson(live_at), "\n\n");
}

std::string UrlDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 &&
               HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view part = query.substr(start, end - start);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        out.emplace_back(UrlDecode(part), "");
      } else {
        out.emplace_back(UrlDecode(part.substr(0, eq)), UrlDecode(part.substr(eq + 1)));
      }
    }
    start = end + 1;
  }
  return out;
}

}  // namespace tailgate

#include "gateway/http/query.h"

namespace tailgate {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view QueryOf(std::string_view target) {
  const size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

std::vector<RawQueryParam> SplitQuery(std::string_view query) {
  std::vector<RawQueryParam> out;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view piece = query.substr(start, end - start);
    const size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      out.push_back(RawQueryParam{piece, std::string_view(), false});
    } else {
      out.push_back(RawQueryParam{piece.substr(0, eq), piece.substr(eq + 1), true});
    }
    start = end + 1;
  }
  return out;
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
  for (const RawQueryParam& p : SplitQuery(query)) {
    if (p.name.empty() && !p.has_value) continue;
    out.emplace_back(UrlDecode(p.name), UrlDecode(p.value));
  }
  return out;
}

}  // namespace tailgate

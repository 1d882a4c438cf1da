#include "store/topic.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"

namespace tailgate::store {
namespace {

// Debian's Abseil is built with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0).

bool IsTopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == ':' || c == '-';
}

bool IsTypeChar(char c) { return IsTopicChar(c) || c == '.'; }

// Printable byte for error messages; never echoes control bytes back.
std::string Describe(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrCat("byte 0x", absl::Hex(u, absl::kZeroPad2));
}

absl::Status Invalid(std::string_view field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", why));
}

// Checks the shared token grammar; `allow_wildcards` admits `*` tokens and a
// final `>` token.
absl::Status ValidateTokens(std::string_view text, std::string_view field, std::string_view what,
                            bool allow_wildcards) {
  if (text.empty()) return Invalid(field, absl::StrCat(AbslView(what), " must not be empty"));
  if (text.size() > kMaxTopicBytes) {
    return Invalid(field, absl::StrCat(AbslView(what), " is ", text.size(), " bytes; the limit is ",
                                       kMaxTopicBytes));
  }
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string_view token =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (token.empty()) {
      return Invalid(field, absl::StrCat(AbslView(what), " has an empty token at byte ", start,
                                         " (tokens are separated by single dots)"));
    }
    const bool last = dot == std::string_view::npos;
    if (allow_wildcards && token == "*") {
      // ok: exactly one token
    } else if (allow_wildcards && token == ">") {
      if (!last) return Invalid(field, absl::StrCat(AbslView(what), ": '>' is allowed only as the last token"));
    } else {
      for (size_t i = 0; i < token.size(); ++i) {
        if (!IsTopicChar(token[i])) {
          const bool wildcard = token[i] == '*' || token[i] == '>';
          return Invalid(
              field,
              absl::StrCat(AbslView(what), " has invalid ", Describe(token[i]), " at byte ", start + i,
                           wildcard && allow_wildcards
                               ? " (a wildcard must be a whole token)"
                               : wildcard ? " (wildcards are for subscriptions, not topics)"
                                          : " (allowed: A-Z a-z 0-9 _ : - and '.' between tokens)"));
        }
      }
    }
    if (last) break;
    start = dot + 1;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTopic(std::string_view topic, std::string_view field) {
  return ValidateTokens(topic, field, "topic", /*allow_wildcards=*/false);
}

absl::Status ValidateType(std::string_view type, std::string_view field) {
  if (type.empty()) return absl::OkStatus();
  if (type.size() > kMaxTypeBytes) {
    return Invalid(field, absl::StrCat("type is ", type.size(), " bytes; the limit is ",
                                       kMaxTypeBytes));
  }
  for (size_t i = 0; i < type.size(); ++i) {
    if (!IsTypeChar(type[i])) {
      return Invalid(field, absl::StrCat("type has invalid ", Describe(type[i]), " at byte ", i,
                                         " (allowed: A-Z a-z 0-9 _ . : -)"));
    }
  }
  // The gateway's own in-band events (e.g. "tailgate.reset") must never be
  // confused with a publisher's.
  if (type.substr(0, 9) == "tailgate.") {
    return Invalid(field, "type prefix \"tailgate.\" is reserved for the gateway's own events");
  }
  // A browser's EventSource dispatches these to its onerror / onopen
  // handlers: a publisher could fake connection errors or reopenings.
  if (type == "error" || type == "open") {
    return Invalid(field, absl::StrCat("type \"", AbslView(type),
                                       "\" is reserved: browsers deliver it to EventSource's on",
                                       AbslView(type),
                                       " handler"));
  }
  return absl::OkStatus();
}

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // ASCII runs (most event data is JSON) eight bytes at a time.
    while (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof(word));
      if ((word & 0x8080808080808080ULL) != 0) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) <= n) return false;
    for (size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    // Reject overlong forms, surrogates and code points past U+10FFFF.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

absl::Status ValidateData(std::string_view data, size_t max_bytes, std::string_view field) {
  if (data.size() > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(AbslView(field), ": data is ", data.size(),
                                                     " bytes; the limit is ", max_bytes));
  }
  if (data.find('\0') != std::string_view::npos) {
    return Invalid(field, absl::StrCat("data contains a NUL byte at byte ", data.find('\0')));
  }
  if (!IsValidUtf8(data)) return Invalid(field, "data is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status ValidateIdempotencyKey(std::string_view key, std::string_view field) {
  static constexpr size_t kMaxKeyBytes = 128;
  if (key.size() > kMaxKeyBytes) {
    return Invalid(field, absl::StrCat("idempotency_key is ", key.size(), " bytes; the limit is ",
                                       kMaxKeyBytes));
  }
  for (size_t i = 0; i < key.size(); ++i) {
    const auto u = static_cast<unsigned char>(key[i]);
    if (u < 0x21 || u > 0x7e) {
      return Invalid(field, absl::StrCat("idempotency_key has invalid ", Describe(key[i]),
                                         " at byte ", i, " (allowed: printable ASCII, no space)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TopicPattern> TopicPattern::Parse(std::string_view pattern,
                                                 std::string_view field) {
  if (absl::Status s = ValidateTokens(pattern, field, "pattern", /*allow_wildcards=*/true);
      !s.ok()) {
    return s;
  }
  TopicPattern p;
  p.text_ = std::string(pattern);
  // The literal prefix ends after the dot before the first wildcard token;
  // a pattern without one is its own prefix.
  size_t wildcard = std::string_view::npos;
  for (size_t start = 0; start <= pattern.size();) {
    size_t dot = pattern.find('.', start);
    if (dot == std::string_view::npos) dot = pattern.size();
    std::string_view token = pattern.substr(start, dot - start);
    if (token == "*" || token == ">") {
      wildcard = start;
      break;
    }
    start = dot + 1;
  }
  p.exact_ = wildcard == std::string_view::npos;
  p.prefix_bytes_ = static_cast<uint8_t>(p.exact_ ? pattern.size() : wildcard);
  return p;
}

bool TopicPattern::Matches(std::string_view topic) const {
  if (exact_) return topic == text_;
  // Token by token over both texts; `p` and `t` are the starts of the next
  // pattern and topic tokens. The pattern is valid (no empty token); the
  // topic may be any bytes, and only ever fails to match.
  const std::string_view pattern(text_);
  size_t p = prefix_bytes_;
  if (topic.substr(0, p) != pattern.substr(0, p)) return false;
  size_t t = p;
  while (p < pattern.size()) {
    if (t >= topic.size()) return false;  // topic ran out of tokens
    size_t p_end = pattern.find('.', p);
    if (p_end == std::string_view::npos) p_end = pattern.size();
    std::string_view want = pattern.substr(p, p_end - p);
    if (want == ">") return true;  // t < size: one or more tokens remain
    size_t t_end = topic.find('.', t);
    if (t_end == std::string_view::npos) t_end = topic.size();
    if (want != "*" && topic.substr(t, t_end - t) != want) return false;
    p = p_end + 1;
    t = t_end + 1;
  }
  return t == topic.size() + 1;  // every topic token consumed, none left over
}

TopicFilter::TopicFilter(std::vector<TopicPattern> patterns) : patterns_(std::move(patterns)) {}

absl::StatusOr<TopicFilter> TopicFilter::Parse(const std::vector<std::string>& patterns,
                                               std::string_view field) {
  std::vector<TopicPattern> parsed;
  parsed.reserve(patterns.size());
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string name =
        patterns.size() == 1 ? std::string(field) : absl::StrCat(AbslView(field), "[", i, "]");
    absl::StatusOr<TopicPattern> p = TopicPattern::Parse(patterns[i], name);
    if (!p.ok()) return p.status();
    parsed.push_back(*std::move(p));
  }
  return TopicFilter(std::move(parsed));
}

bool TopicFilter::Matches(std::string_view topic) const {
  for (const TopicPattern& p : patterns_) {
    if (p.Matches(topic)) return true;
  }
  return false;
}

}  // namespace tailgate::store

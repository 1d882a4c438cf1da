// Resume-point parsing: ParseEventId (Last-Event-ID header, lastEventId) and
// ParseSince ("earliest" or RFC 3339), and the query decoding in front of
// them, against independent oracles.
//
// Input: lines: event-id text, since text, a query string.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "gateway/http/query.h"
#include "gateway/sse/codec.h"
#include "tests/fuzz/fuzz_util.h"

using namespace tailgate::fuzz;  // NOLINT: a fuzz target's only code

namespace {

// The decimal value of `s` after trimming ASCII whitespace; false unless all
// digits and within uint64.
bool OracleId(std::string_view s, uint64_t* out) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string_view> parts =
      SplitLines(std::string_view(reinterpret_cast<const char*>(data), size), 3);
  auto part = [&](size_t i) { return i < parts.size() ? parts[i] : std::string_view(); };

  // Event ids.
  {
    absl::StatusOr<uint64_t> id = tailgate::ParseEventId(part(0), "Last-Event-ID header");
    uint64_t want = 0;
    const bool valid = OracleId(part(0), &want);
    FUZZ_CHECK(id.ok() == valid);
    if (valid) {
      FUZZ_CHECK(*id == want);
      FUZZ_CHECK(*tailgate::ParseEventId(std::to_string(*id), "x") == *id);
    } else {
      FUZZ_CHECK(id.status().code() == absl::StatusCode::kInvalidArgument);
      FUZZ_CHECK(IsSafeMessage(SV(id.status().message())));
      FUZZ_CHECK(SV(id.status().message()).find("Last-Event-ID header") == 0);
    }
  }

  // since=.
  {
    absl::StatusOr<tailgate::ResumeSpec> since = tailgate::ParseSince(part(1), "since");
    if (!since.ok()) {
      FUZZ_CHECK(since.status().code() == absl::StatusCode::kInvalidArgument);
      FUZZ_CHECK(IsSafeMessage(SV(since.status().message())));
      FUZZ_CHECK(part(1) != "earliest");
    } else if (part(1) == "earliest") {
      FUZZ_CHECK(since->kind == tailgate::ResumeSpec::Kind::kEarliest);
    } else {
      FUZZ_CHECK(since->kind == tailgate::ResumeSpec::Kind::kTime);
      // A finite time that formats back and re-parses to itself.
      FUZZ_CHECK(since->time != absl::InfiniteFuture() && since->time != absl::InfinitePast());
      const std::string again = absl::FormatTime(absl::RFC3339_full, since->time, absl::UTCTimeZone());
      absl::StatusOr<tailgate::ResumeSpec> round = tailgate::ParseSince(again, "since");
      FUZZ_CHECK(round.ok() && round->kind == tailgate::ResumeSpec::Kind::kTime &&
                 round->time == since->time);
    }
  }

  // Query decoding: pairs in order, each decoded as an independent decoder does.
  {
    const std::string_view query = part(2);
    auto pairs = tailgate::ParseQuery(query);
    size_t n = 0, start = 0;
    while (start <= query.size()) {
      size_t end = query.find('&', start);
      if (end == std::string_view::npos) end = query.size();
      const std::string_view item = query.substr(start, end - start);
      if (!item.empty()) {
        FUZZ_CHECK(n < pairs.size());
        const size_t eq = item.find('=');
        const std::string_view name = item.substr(0, eq);
        // Decoding never grows the text; without '%' and '+' it is the identity.
        FUZZ_CHECK(pairs[n].first.size() <= name.size());
        if (name.find_first_of("%+") == std::string_view::npos) FUZZ_CHECK(pairs[n].first == name);
        if (eq == std::string_view::npos) FUZZ_CHECK(pairs[n].second.empty());
        ++n;
      }
      start = end + 1;
    }
    FUZZ_CHECK(n == pairs.size());
    // %XX of every byte decodes back to the byte.
    std::string encoded;
    for (char c : query) {
      static const char* kHex = "0123456789ABCDEF";
      encoded += '%';
      encoded += kHex[static_cast<unsigned char>(c) >> 4];
      encoded += kHex[static_cast<unsigned char>(c) & 15];
    }
    FUZZ_CHECK(tailgate::UrlDecode(encoded) == query);
  }
  return 0;
}

// Topic and pattern grammar: TopicPattern::Parse / Matches / LiteralPrefix,
// TopicFilter, ValidateTopic, checked against an independent matcher.
//
// Input: a pattern line, then topic lines ("orders.*\norders.eu\n...").
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/topic.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using tailgate::fuzz::IsSafeMessage;
using tailgate::fuzz::SV;
namespace store = tailgate::store;

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string_view::npos ? s.npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// The reference: token by token, straight from the grammar in docs/api.md.
bool RefMatch(const std::vector<std::string_view>& p, const std::vector<std::string_view>& t) {
  size_t j = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") return j < t.size();
    if (j == t.size()) return false;
    if (p[i] != "*" && p[i] != t[j]) return false;
    ++j;
  }
  return j == t.size();
}

// A topic the pattern must match: each `*` -> "x", `>` -> "y.z".
std::string Instantiate(const std::vector<std::string_view>& p) {
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    if (i) out += '.';
    out += p[i] == "*" ? std::string_view("x") : p[i] == ">" ? std::string_view("y.z") : p[i];
  }
  return out;
}

void CheckTopic(std::string_view topic) {
  absl::Status valid = store::ValidateTopic(topic);
  FUZZ_CHECK(IsSafeMessage(SV(valid.message())));
  if (!valid.ok()) {
    FUZZ_CHECK(valid.code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(!topic.empty() && topic.size() <= store::kMaxTopicBytes);
  FUZZ_CHECK(topic.front() != '.' && topic.back() != '.');
  FUZZ_CHECK(topic.find("..") == std::string_view::npos);
  // A valid topic is an exact pattern that matches itself and only itself.
  absl::StatusOr<store::TopicPattern> self = store::TopicPattern::Parse(topic);
  FUZZ_CHECK(self.ok());
  FUZZ_CHECK(self->IsExact());
  FUZZ_CHECK(self->Matches(topic));
  FUZZ_CHECK(self->LiteralPrefix() == topic);
  FUZZ_CHECK(self->str() == topic);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines = tailgate::fuzz::SplitLines(in, 8);
  for (std::string_view l : lines) CheckTopic(l);

  absl::StatusOr<store::TopicPattern> p = store::TopicPattern::Parse(lines[0]);
  FUZZ_CHECK(IsSafeMessage(SV(p.status().message())));
  std::vector<std::string> texts(lines.begin(), lines.end());
  absl::StatusOr<store::TopicFilter> filter = store::TopicFilter::Parse(texts);
  if (!p.ok()) {
    FUZZ_CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!filter.ok());
    return 0;
  }
  const std::vector<std::string_view> pt = Split(lines[0]);
  FUZZ_CHECK(p->str() == lines[0]);
  FUZZ_CHECK(p->IsExact() == store::ValidateTopic(lines[0]).ok());
  for (size_t i = 0; i < pt.size(); ++i) {
    FUZZ_CHECK(!pt[i].empty());
    if (pt[i] == ">") FUZZ_CHECK(i + 1 == pt.size());
  }
  const std::string instance = Instantiate(pt);
  FUZZ_CHECK(p->Matches(instance));
  if (p->IsExact()) FUZZ_CHECK(p->Matches(lines[0]));

  for (size_t k = 1; k < lines.size(); ++k) {
    const std::string_view topic = lines[k];
    const bool matches = p->Matches(topic);  // must not crash on any bytes
    if (!store::ValidateTopic(topic).ok()) continue;
    FUZZ_CHECK(matches == RefMatch(pt, Split(topic)));
    if (matches) {
      FUZZ_CHECK(topic.substr(0, p->LiteralPrefix().size()) == p->LiteralPrefix());
    }
    if (filter.ok()) {
      bool any = false;
      for (const auto& q : filter->patterns()) any = any || q.Matches(topic);
      FUZZ_CHECK(filter->Matches(topic) == any);
    }
  }
  return 0;
}

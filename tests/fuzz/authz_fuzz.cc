// Pattern containment (tailgate::PatternsCover, the subscribe authorization
// check) against the brute-force oracle in pattern_oracle.h.
//
// Input: the requested pattern, then granted patterns, one per line.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "gateway/auth/grants.h"
#include "store/topic.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/pattern_oracle.h"

namespace store = tailgate::store;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines = tailgate::fuzz::SplitLines(in, 6);
  absl::StatusOr<store::TopicPattern> requested = store::TopicPattern::Parse(lines[0]);
  if (!requested.ok()) return 0;
  std::vector<store::TopicPattern> granted;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::StatusOr<store::TopicPattern> g = store::TopicPattern::Parse(lines[i]);
    if (g.ok()) granted.push_back(*std::move(g));
  }
  const bool covers = tailgate::PatternsCover(granted, *requested);

  // Reflexive, and monotone in the grants.
  FUZZ_CHECK(tailgate::PatternsCover({*requested}, *requested));
  if (covers) {
    std::vector<store::TopicPattern> more = granted;
    more.push_back(*requested);
    FUZZ_CHECK(tailgate::PatternsCover(more, *requested));
  }
  for (const auto& g : granted) {
    if (tailgate::PatternsCover({g}, *requested)) FUZZ_CHECK(covers);
  }
  // Exact requests reduce to matching.
  if (requested->IsExact()) {
    bool any = false;
    for (const auto& g : granted) any = any || g.Matches(requested->str());
    FUZZ_CHECK(covers == any);
  }
  if (tailgate::testing::OracleCost(granted, *requested) <= 4000) {
    FUZZ_CHECK(covers == tailgate::testing::BruteForceCovers(granted, *requested));
  }
  return 0;
}

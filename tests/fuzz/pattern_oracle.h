// A brute-force oracle for pattern containment, independent of
// tailgate::PatternsCover: enumerate every topic that could tell the patterns
// apart and check each one with TopicPattern::Matches.
//
// Matching compares each topic token only with one pattern token at a time,
// so the alphabet "every literal in the patterns, plus one fresh token equal
// to none of them" exhibits every behaviour, and topics one token longer than
// the longest pattern stand for all longer ones. Cost: sum of A^n for
// n = 1..L (A = alphabet size, L = longest pattern + 1); keep inputs small.
#ifndef TAILGATE_TESTS_FUZZ_PATTERN_ORACLE_H_
#define TAILGATE_TESTS_FUZZ_PATTERN_ORACLE_H_

#include <algorithm>
#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/topic.h"

namespace tailgate::testing {

inline std::vector<std::string> PatternTokens(const store::TopicPattern& p) {
  std::vector<std::string> out;
  std::string_view s = p.str();
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    out.emplace_back(s.substr(start, dot == std::string_view::npos ? s.npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// The alphabet size and topic length the oracle would enumerate, to let
// callers skip inputs that are too large: returns sum of A^n, n = 1..L.
inline size_t OracleCost(const std::vector<store::TopicPattern>& granted,
                         const store::TopicPattern& requested) {
  std::set<std::string> literals;
  size_t longest = 0;
  auto add = [&](const store::TopicPattern& p) {
    std::vector<std::string> t = PatternTokens(p);
    longest = std::max(longest, t.size());
    for (const std::string& s : t) {
      if (s != "*" && s != ">") literals.insert(s);
    }
  };
  add(requested);
  for (const auto& g : granted) add(g);
  const size_t a = literals.size() + 1;
  size_t total = 0, power = 1;
  for (size_t n = 1; n <= longest + 1; ++n) {
    power *= a;
    total += power;
    if (total > (size_t{1} << 40)) return total;
  }
  return total;
}

inline bool BruteForceCovers(const std::vector<store::TopicPattern>& granted,
                             const store::TopicPattern& requested) {
  std::set<std::string> literals;
  size_t longest = 0;
  auto add = [&](const store::TopicPattern& p) {
    std::vector<std::string> t = PatternTokens(p);
    longest = std::max(longest, t.size());
    for (const std::string& s : t) {
      if (s != "*" && s != ">") literals.insert(s);
    }
  };
  add(requested);
  for (const auto& g : granted) add(g);
  std::string fresh = "f";
  while (literals.count(fresh)) fresh += "_";
  std::vector<std::string> alphabet(literals.begin(), literals.end());
  alphabet.push_back(fresh);

  std::vector<size_t> digits;
  for (size_t n = 1; n <= longest + 1; ++n) {
    digits.assign(n, 0);
    while (true) {
      std::string topic;
      for (size_t i = 0; i < n; ++i) {
        if (i) topic += '.';
        topic += alphabet[digits[i]];
      }
      if (requested.Matches(topic) &&
          std::none_of(granted.begin(), granted.end(),
                       [&](const store::TopicPattern& g) { return g.Matches(topic); })) {
        return false;
      }
      size_t i = 0;
      while (i < n && ++digits[i] == alphabet.size()) digits[i++] = 0;
      if (i == n) break;
    }
  }
  return true;
}

}  // namespace tailgate::testing

#endif  // TAILGATE_TESTS_FUZZ_PATTERN_ORACLE_H_

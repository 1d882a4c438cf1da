#include "gateway/auth/grants.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"

namespace tailgate {

namespace {

// Debian's Abseil is built with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0).

std::vector<std::string_view> Tokens(const store::TopicPattern& p) {
  std::vector<std::string_view> tokens;
  std::string_view s = p.str();
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      tokens.push_back(s.substr(start));
      return tokens;
    }
    tokens.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
}

}  // namespace

absl::Duration TokenTimeLeft(absl::Time valid_until, absl::Time now) {
  return std::min(std::max(valid_until - now, absl::ZeroDuration()), absl::Hours(24 * 36525));
}

// Walks `requested` token by token, keeping the grants that can still match
// the topics it describes. A requested `*` stands for a fresh token equal to
// no literal: a grant survives it only with `*` (or `>`), and whatever covers
// the fresh token covers every literal too, since the set of surviving grants
// only grows when the token equals a grant's literal. Hence one pass, no
// backtracking: O(|requested| * total grant tokens).
bool PatternsCover(const std::vector<store::TopicPattern>& granted,
                   const store::TopicPattern& requested) {
  const std::vector<std::string_view> req = Tokens(requested);
  std::vector<std::vector<std::string_view>> grants;
  grants.reserve(granted.size());
  for (const store::TopicPattern& g : granted) grants.push_back(Tokens(g));
  // (grant index, position of its next token)
  std::vector<std::pair<size_t, size_t>> alive;
  for (size_t i = 0; i < grants.size(); ++i) alive.emplace_back(i, 0);

  for (size_t j = 0; j < req.size(); ++j) {
    // A grant at `>` matches any one or more tokens, and requested tokens
    // remain, each standing for at least one topic token.
    for (const auto& [g, i] : alive) {
      if (i < grants[g].size() && grants[g][i] == ">") return true;
    }
    if (req[j] == ">") {
      // Any number n >= 1 of fresh tokens must be matched. Only grants whose
      // rest is all `*` (n == k) or `*`^k `>` (n > k) match fresh tokens.
      std::vector<bool> exact;  // exact[n]: some grant matches exactly n
      size_t min_tail = std::numeric_limits<size_t>::max();
      for (const auto& [g, i] : alive) {
        const std::vector<std::string_view>& t = grants[g];
        size_t stars = 0;
        while (i + stars < t.size() && t[i + stars] == "*") ++stars;
        if (i + stars == t.size()) {
          if (exact.size() <= stars) exact.resize(stars + 1, false);
          exact[stars] = true;
        } else if (i + stars + 1 == t.size() && t[i + stars] == ">") {
          min_tail = std::min(min_tail, stars);
        }
      }
      if (min_tail == std::numeric_limits<size_t>::max()) return false;
      for (size_t n = 1; n <= min_tail; ++n) {
        if (n >= exact.size() || !exact[n]) return false;
      }
      return true;
    }
    std::vector<std::pair<size_t, size_t>> next;
    for (const auto& [g, i] : alive) {
      if (i >= grants[g].size()) continue;
      const std::string_view t = grants[g][i];
      if (t == "*" || (req[j] != "*" && t == req[j])) next.emplace_back(g, i + 1);
    }
    alive.swap(next);
    if (alive.empty()) return false;
  }
  for (const auto& [g, i] : alive) {
    if (i == grants[g].size()) return true;
  }
  return false;
}

bool Grants::MaySubscribe(const store::TopicPattern& requested) const {
  return PatternsCover(subscribe, requested);
}

bool Grants::MayPublish(std::string_view topic) const {
  for (const store::TopicPattern& p : publish) {
    if (p.Matches(topic)) return true;
  }
  return false;
}

absl::Status AuthorizeSubscribe(const Grants& grants,
                                const std::vector<store::TopicPattern>& requested) {
  for (const store::TopicPattern& p : requested) {
    if (!grants.MaySubscribe(p)) {
      return absl::PermissionDeniedError(
          absl::StrCat("token does not allow subscribing to \"", p.str(), "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status AuthorizePublish(const Grants& grants, std::string_view topic) {
  if (grants.MayPublish(topic)) return absl::OkStatus();
  // Topics are validated before this, so echoing one is safe; cap it anyway.
  return absl::PermissionDeniedError(absl::StrCat(
      "token does not allow publishing to \"", AbslView(topic.substr(0, store::kMaxTopicBytes)), "\""));
}

}  // namespace tailgate

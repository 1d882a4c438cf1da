// Revocations: JWT subjects whose tokens are refused, and topic patterns
// that may not be subscribed to, each until a given time (README "Who is
// connected"). Made by tailgate.v1.Admin/Revoke; checked by JwtVerifier on
// every token (one hook: SSE, Subscribe, Publish*, Admin) and by the stream
// registry (gateway/core/presence.h) on every new subscription.
//
// Pattern semantics: a revocation of pattern P covers a subscription pattern
// Q when every topic Q can match is matched by P (PatternsCover({P}, Q):
// "orders.>" covers "orders.eu" and "orders.*.x", not ">"). Covered
// subscriptions are ended, and new ones refused, until `until`. A stream on
// a wider pattern (">") is not touched: pattern revocation takes subscribers
// off, it is not access control (that is the token's grants).
//
// Persistence: with a path, every change is written to a temporary file,
// fsynced and renamed over the path before it takes effect, so a crash leaves
// the old or the new list, never a torn one. Expired entries are dropped
// when the file is read and whenever it is written. Without a path the list
// lives in memory only (JetStream without --revocations_file).
//
// Thread-safety: every method is thread-safe. Checks take a short mutex
// (or none while the list is empty) and never do I/O, so they are fit for
// event loops; Add/Remove do file I/O and belong on blocking threads (the
// synchronous Admin handlers).
#ifndef TAILGATE_GATEWAY_AUTH_REVOCATIONS_H_
#define TAILGATE_GATEWAY_AUTH_REVOCATIONS_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/topic.h"

namespace tailgate {

struct Revocation {
  enum class Kind { kSubject, kPattern };
  Kind kind = Kind::kSubject;
  std::string value;  // The subject, or the pattern's text.
  absl::Time until = absl::InfinitePast();  // Refused while now < until.
  absl::Time created = absl::InfinitePast();
};

const char* RevocationKindName(Revocation::Kind kind);  // "subject" | "pattern"

class RevocationList {
 public:
  // Reads `path` when it exists (a missing file is an empty list); `path`
  // empty: memory only. INVALID_ARGUMENT / DATA_LOSS naming the file and line
  // when it cannot be read or parsed.
  static absl::StatusOr<std::unique_ptr<RevocationList>> Open(std::string path, absl::Time now);

  RevocationList(const RevocationList&) = delete;
  RevocationList& operator=(const RevocationList&) = delete;

  // UNAUTHENTICATED "token subject X is revoked until T" while `subject` is
  // revoked; OK otherwise (and always for an empty subject).
  absl::Status CheckSubject(std::string_view subject, absl::Time now) const;
  // PERMISSION_DENIED naming the first requested pattern covered by a
  // revoked pattern, and until when.
  absl::Status CheckPatterns(const std::vector<store::TopicPattern>& requested,
                             absl::Time now) const;

  // Adds `r` (replacing one of the same kind and value), persisted before it
  // takes effect. INVALID_ARGUMENT for an empty subject, an invalid pattern
  // or an `until` not after `now`; the write's error when it cannot persist.
  absl::Status Add(Revocation r, absl::Time now);
  // NOT_FOUND when there is no such (unexpired) revocation.
  absl::Status Remove(Revocation::Kind kind, const std::string& value, absl::Time now);
  // The unexpired revocations, subjects first, each kind sorted by value.
  std::vector<Revocation> List(absl::Time now) const;

  // Empty when the list lives in memory only.
  const std::string& path() const { return path_; }

 private:
  struct Entry {
    Revocation revocation;
    std::vector<store::TopicPattern> pattern;  // One element for kPattern.
  };
  using Key = std::pair<Revocation::Kind, std::string>;
  using Map = std::map<Key, Entry>;

  explicit RevocationList(std::string path) : path_(std::move(path)) {}
  absl::Status Persist(const Map& entries) const;
  void Install(Map entries);
  // The entries now, less those expired at `now` (callers hold write_mu_).
  Map UnexpiredCopy(absl::Time now) const;

  const std::string path_;
  std::mutex write_mu_;     // Serializes Add/Remove (read-modify-persist-install).
  mutable std::mutex mu_;   // Guards entries_; held only for lookups and swaps.
  Map entries_;
  // entries_.size(), readable without mu_: the common case (nothing
  // revoked) costs one atomic load per check.
  std::atomic<size_t> size_{0};
};

}  // namespace tailgate

#endif  // TAILGATE_GATEWAY_AUTH_REVOCATIONS_H_

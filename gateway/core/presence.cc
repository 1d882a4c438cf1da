#include "gateway/core/presence.h"

#include <utility>

#include <boost/intrusive/list.hpp>

#include "gateway/auth/grants.h"  // PatternsCover

namespace tailgate {

struct StreamRegistry::State {
  mutable std::mutex mu;
  uint64_t next_id = 1;  // Guarded by mu.
  // Registered streams, oldest (= lowest id) first; guarded by mu.
  boost::intrusive::list<Registration,
                         boost::intrusive::member_hook<Registration,
                                                       boost::intrusive::list_member_hook<>,
                                                       &Registration::link_>>
      streams;
  // A revoke that found a stream may call its `end` only while it is still
  // registered: a registration refused by Admit (or already gone) is never
  // ended. `end` only posts, so calling it under this mutex cannot block.
  // One for all streams (not one each: idle streams are many, revokes rare).
  std::mutex end_mu;
};

namespace {

// True when `covering` covers one of the stream's patterns.
bool CoversAny(const store::TopicPattern& covering, const std::vector<store::TopicPattern>& ps) {
  const std::vector<store::TopicPattern> one{covering};
  for (const store::TopicPattern& p : ps) {
    if (PatternsCover(one, p)) return true;
  }
  return false;
}

}  // namespace

void StreamRegistry::Registration::Reset() {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mu);
    state_->streams.erase(state_->streams.iterator_to(*this));
  }
  {
    std::lock_guard lock(state_->end_mu);
    gone_ = true;
  }
  state_.reset();
  owner_.reset();
}

StreamRegistry::StreamRegistry(const RevocationList* revocations)
    : revocations_(revocations), state_(std::make_shared<State>()) {}

StreamRegistry::~StreamRegistry() = default;

absl::Status StreamRegistry::Admit(const std::string& subject,
                                   const std::vector<store::TopicPattern>& patterns) const {
  if (revocations_ == nullptr) return absl::OkStatus();
  const absl::Time now = absl::Now();
  if (absl::Status s = revocations_->CheckSubject(subject, now); !s.ok()) return s;
  return revocations_->CheckPatterns(patterns, now);
}

absl::Status StreamRegistry::Register(Registration* into, StreamInfo info,
                                      const std::vector<store::TopicPattern>* patterns,
                                      uint64_t position, std::weak_ptr<void> owner, EndFn end) {
  into->Reset();
  into->info_ = std::move(info);
  into->patterns_ = patterns;
  into->position_.store(position, std::memory_order_relaxed);
  into->owner_ = std::move(owner);
  into->end_ = end;
  {
    std::lock_guard lock(state_->end_mu);
    into->gone_ = false;
  }
  into->state_ = state_;
  {
    std::lock_guard lock(state_->mu);
    into->id_ = state_->next_id++;
    state_->streams.push_back(*into);
  }
  // Visible first, checked second (see the header): a Revoke that the check
  // misses has not added its revocation yet, so its scan will find us.
  absl::Status s = Admit(into->info_.subject, *patterns);
  if (!s.ok()) into->Reset();
  return s;
}

std::vector<StreamSnapshot> StreamRegistry::List(const std::string& subject,
                                                 const store::TopicPattern* covering) const {
  std::vector<StreamSnapshot> out;
  std::lock_guard lock(state_->mu);
  for (const Registration& r : state_->streams) {
    if (!subject.empty() && r.info_.subject != subject) continue;
    if (covering != nullptr && !CoversAny(*covering, *r.patterns_)) continue;
    out.push_back(StreamSnapshot{r.id_, r.info_, *r.patterns_,
                                 r.position_.load(std::memory_order_relaxed)});
  }
  return out;
}

std::map<std::string, uint64_t> StreamRegistry::CountByPattern(
    const store::TopicPattern* covering) const {
  std::map<std::string, uint64_t> out;
  const std::vector<store::TopicPattern> one =
      covering ? std::vector<store::TopicPattern>{*covering} : std::vector<store::TopicPattern>{};
  std::lock_guard lock(state_->mu);
  for (const Registration& r : state_->streams) {
    for (const store::TopicPattern& p : *r.patterns_) {
      if (covering != nullptr && !PatternsCover(one, p)) continue;
      ++out[p.str()];
    }
  }
  return out;
}

size_t StreamRegistry::EndMatching(const std::function<bool(const Registration&)>& match,
                                   const absl::Status& reason) {
  // Each matched stream's owner is pinned, so its Registration stays valid
  // (if not registered) after the mutex is released.
  std::vector<std::pair<std::shared_ptr<void>, Registration*>> matched;
  {
    std::lock_guard lock(state_->mu);
    for (Registration& r : state_->streams) {
      if (!match(r)) continue;
      // Null when the owner is being destroyed (it unregisters on its way out).
      if (std::shared_ptr<void> owner = r.owner_.lock()) matched.emplace_back(std::move(owner), &r);
    }
  }
  // Outside the mutex: `end` posts to the stream's strand, and the stream
  // may unregister (take the mutex) on its way out at any moment.
  {
    std::lock_guard lock(state_->end_mu);
    for (const auto& [owner, r] : matched) {
      if (!r->gone_) r->end_(owner, reason);
    }
  }
  const size_t n = matched.size();
  matched.clear();  // Outside both mutexes: a last reference may destroy a stream.
  return n;
}

size_t StreamRegistry::EndSubject(const std::string& subject, const absl::Status& reason) {
  if (subject.empty()) return 0;
  return EndMatching([&](const Registration& r) { return r.info_.subject == subject; }, reason);
}

size_t StreamRegistry::EndCovered(const store::TopicPattern& pattern, const absl::Status& reason) {
  return EndMatching([&](const Registration& r) { return CoversAny(pattern, *r.patterns_); }, reason);
}

size_t StreamRegistry::size() const {
  std::lock_guard lock(state_->mu);
  return state_->streams.size();
}

}  // namespace tailgate

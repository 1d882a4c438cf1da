#include "gateway/core/presence.h"

#include <utility>

#include "gateway/auth/grants.h"  // PatternsCover

namespace tailgate {

struct StreamRegistry::Entry {
  uint64_t id = 0;
  StreamInfo info;
  std::atomic<uint64_t> position{0};
  EndFn end;
  bool gone = false;  // Guarded by State::end_mu.
};

struct StreamRegistry::State {
  mutable std::mutex mu;
  uint64_t next_id = 1;                                 // Guarded by mu.
  std::map<uint64_t, std::shared_ptr<Entry>> streams;  // Guarded by mu; by id = by age.
  // A revoke that found an entry may call its `end` only while it is still
  // registered: a registration refused by Admit (or already gone) is never
  // ended. `end` only posts, so calling it under this mutex cannot block.
  // One for all entries (not one each: idle streams are many, revokes rare).
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

StreamRegistry::Registration& StreamRegistry::Registration::operator=(
    Registration&& other) noexcept {
  if (this != &other) {
    Reset();
    state_ = std::move(other.state_);
    entry_ = std::move(other.entry_);
  }
  return *this;
}

void StreamRegistry::Registration::set_position(uint64_t id) {
  if (entry_) entry_->position.store(id, std::memory_order_relaxed);
}

void StreamRegistry::Registration::Reset() {
  if (!entry_) return;
  {
    std::lock_guard lock(state_->mu);
    state_->streams.erase(entry_->id);
  }
  {
    std::lock_guard lock(state_->end_mu);
    entry_->gone = true;
  }
  entry_.reset();
  state_.reset();
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

absl::StatusOr<StreamRegistry::Registration> StreamRegistry::Register(StreamInfo info,
                                                                      uint64_t position,
                                                                      EndFn end) {
  auto entry = std::make_shared<Entry>();
  entry->info = std::move(info);
  entry->position.store(position, std::memory_order_relaxed);
  entry->end = std::move(end);
  Registration reg;
  reg.state_ = state_;
  {
    std::lock_guard lock(state_->mu);
    entry->id = state_->next_id++;
    state_->streams.emplace(entry->id, entry);
  }
  reg.entry_ = entry;
  // Visible first, checked second (see the header): a Revoke that the check
  // misses has not added its revocation yet, so its scan will find us.
  if (absl::Status s = Admit(entry->info.subject, entry->info.patterns); !s.ok()) return s;
  return reg;  // On the error path `reg` unregisters as it goes.
}

std::vector<StreamSnapshot> StreamRegistry::List(const std::string& subject,
                                                 const store::TopicPattern* covering) const {
  std::vector<StreamSnapshot> out;
  std::lock_guard lock(state_->mu);
  for (const auto& [id, e] : state_->streams) {
    if (!subject.empty() && e->info.subject != subject) continue;
    if (covering != nullptr && !CoversAny(*covering, e->info.patterns)) continue;
    out.push_back(StreamSnapshot{id, e->info, e->position.load(std::memory_order_relaxed)});
  }
  return out;
}

std::map<std::string, uint64_t> StreamRegistry::CountByPattern(
    const store::TopicPattern* covering) const {
  std::map<std::string, uint64_t> out;
  const std::vector<store::TopicPattern> one =
      covering ? std::vector<store::TopicPattern>{*covering} : std::vector<store::TopicPattern>{};
  std::lock_guard lock(state_->mu);
  for (const auto& [id, e] : state_->streams) {
    for (const store::TopicPattern& p : e->info.patterns) {
      if (covering != nullptr && !PatternsCover(one, p)) continue;
      ++out[p.str()];
    }
  }
  return out;
}

size_t StreamRegistry::EndMatching(const std::function<bool(const Entry&)>& match,
                                   const absl::Status& reason) {
  std::vector<std::shared_ptr<Entry>> matched;
  {
    std::lock_guard lock(state_->mu);
    for (const auto& [id, e] : state_->streams) {
      if (match(*e)) matched.push_back(e);
    }
  }
  // Outside the mutex: `end` posts to the stream's strand, and the stream
  // may unregister (take the mutex) on its way out at any moment.
  std::lock_guard lock(state_->end_mu);
  for (const std::shared_ptr<Entry>& e : matched) {
    if (!e->gone) e->end(reason);
  }
  return matched.size();
}

size_t StreamRegistry::EndSubject(const std::string& subject, const absl::Status& reason) {
  if (subject.empty()) return 0;
  return EndMatching([&](const Entry& e) { return e.info.subject == subject; }, reason);
}

size_t StreamRegistry::EndCovered(const store::TopicPattern& pattern, const absl::Status& reason) {
  return EndMatching([&](const Entry& e) { return CoversAny(pattern, e.info.patterns); }, reason);
}

size_t StreamRegistry::size() const {
  std::lock_guard lock(state_->mu);
  return state_->streams.size();
}

}  // namespace tailgate

#include <utility>

#include "gateway/http/connection_tracker.h"
#include "gateway/http/http_server.h"

namespace tailgate {

uint64_t ConnectionSlot::Tracker::AddSilent(const std::shared_ptr<Tracker>& t, int max,
                                            std::function<void()> close) {
  std::function<void()> evicted;  // Run after the lock is released.
  uint64_t id = 0;
  {
    std::lock_guard lock(t->mu);
    if (!t->draining) {
      if (max > 0 && static_cast<int>(t->silent.size()) >= max) {
        evicted = std::move(t->silent.begin()->second);
        t->silent.erase(t->silent.begin());
      }
      id = t->next_silent_id++;
      t->silent.emplace(id, std::move(close));
    }
  }
  if (id == 0) close();
  if (evicted) evicted();
  return id;
}

void ConnectionSlot::Tracker::RemoveSilent(const std::shared_ptr<Tracker>& t, uint64_t id) {
  std::function<void()> hook;  // Destroyed after the lock is released.
  std::lock_guard lock(t->mu);
  auto it = t->silent.find(id);
  if (it == t->silent.end()) return;
  hook = std::move(it->second);
  t->silent.erase(it);
}

std::shared_ptr<ConnectionSlot> ConnectionSlot::Tracker::TryAcquire(
    const std::shared_ptr<Tracker>& t, int max) {
  {
    std::lock_guard lock(t->mu);
    if (max > 0 && t->open >= max) return nullptr;
    ++t->open;
  }
  return std::make_shared<ConnectionSlot>(t);
}

void ConnectionSlot::Tracker::TakeHooksLocked(
    Tracker* t, std::vector<std::pair<std::shared_ptr<void>, ConnectionSlot::DrainFn>>* out) {
  for (ConnectionSlot& slot : t->hooked) {
    if (std::shared_ptr<void> owner = slot.owner_.lock()) out->emplace_back(owner, slot.hook_);
  }
  t->hooked.clear();
}

ConnectionSlot::ConnectionSlot(std::shared_ptr<Tracker> tracker) : tracker_(std::move(tracker)) {}

ConnectionSlot::~ConnectionSlot() {
  std::unique_lock lock(tracker_->mu);
  if (drain_link_.is_linked()) tracker_->hooked.erase(tracker_->hooked.iterator_to(*this));
  if (--tracker_->open == 0) tracker_->idle.notify_all();
}

void ConnectionSlot::OnDrain(std::weak_ptr<void> owner, DrainFn hook) {
  {
    std::unique_lock lock(tracker_->mu);
    if (!tracker_->draining) {
      owner_ = std::move(owner);
      hook_ = hook;
      if (!drain_link_.is_linked()) tracker_->hooked.push_back(*this);
      return;
    }
  }
  if (std::shared_ptr<void> pinned = owner.lock()) hook(pinned);
}

bool ConnectionSlot::draining() const {
  std::unique_lock lock(tracker_->mu);
  return tracker_->draining;
}

}  // namespace tailgate

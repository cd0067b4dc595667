#include "commands/decision_log/decision_log_buffer.h"

#include <type_traits>

namespace ledger::commands {

// A drain moves records out of the queue after it has let go of them (and
// of the lock): moving one must not fail halfway.
static_assert(std::is_nothrow_move_constructible_v<DecisionRecord>);

bool DecisionLogBuffer::push(DecisionRecord r) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (closed_ || queue_.size() >= capacity_) {
      ++dropped_;
      return false;
    }
    queue_.push_back(std::move(r));
    queued_.store(queue_.size(), std::memory_order_relaxed);
    ++accepted_;
    // Only the push that reaches what a drainer waits for wakes it (a first
    // record, or a lingering drainer's max); the others would only wake it
    // to sleep again, a futex call and a context switch per decision.
    wake = queue_.size() == 1 || queue_.size() == wake_at_;
  }
  if (wake) cv_.notify_all();
  return true;
}

std::vector<DecisionRecord> DecisionLogBuffer::drain(std::size_t max, std::chrono::milliseconds wait,
                                                     std::chrono::milliseconds linger) {
  // Made before the lock is taken (a deque allocates when made): what a
  // drain of everything swaps the queue with.
  std::deque<DecisionRecord> taken;
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return !queue_.empty() || closed_; });
  // A buffer smaller than `max` fills at its capacity: lingering past that
  // would only drop what comes next, so a full buffer ends the linger too.
  const std::size_t enough = std::min(max, capacity_);
  if (linger.count() > 0 && !queue_.empty() && queue_.size() < enough && !closed_) {
    wake_at_ = enough;
    cv_.wait_for(lock, linger, [&] { return queue_.size() >= enough || closed_; });
    wake_at_ = 1;
  }
  std::vector<DecisionRecord> out;
  if (queue_.size() > max) {
    // A backlog of more than a batch: the first `max` are moved under the
    // lock (the pushers wait that long), the rest stay queued in order.
    out.reserve(max);
    for (std::size_t i = 0; i < max; ++i) {
      out.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_.store(queue_.size(), std::memory_order_relaxed);
    return out;
  }
  // Taking everything, the common case: the queue is swapped out, and its
  // records are moved into the batch (and its blocks freed) after the lock
  // is let go, so a push waits for a swap, not for up to `max` moves. The
  // batch's room is made first: a failed allocation leaves them queued.
  out.reserve(queue_.size());
  taken.swap(queue_);
  queued_.store(0, std::memory_order_relaxed);
  lock.unlock();
  for (auto& r : taken) out.push_back(std::move(r));
  return out;
}

void DecisionLogBuffer::count_dropped() {
  std::lock_guard lock(mu_);
  ++dropped_;
}

void DecisionLogBuffer::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

std::size_t DecisionLogBuffer::size() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}
std::uint64_t DecisionLogBuffer::accepted() const {
  std::lock_guard lock(mu_);
  return accepted_;
}
std::uint64_t DecisionLogBuffer::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}
bool DecisionLogBuffer::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

}  // namespace ledger::commands

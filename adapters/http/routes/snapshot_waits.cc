#include "adapters/http/routes/snapshot_waits.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace ledger::routes {

SnapshotWaits::SnapshotWaits(Checkpoint checkpoint, Options options)
    : checkpoint_(std::move(checkpoint)), options_(options), watcher_([this] { run(); }) {}

SnapshotWaits::~SnapshotWaits() { stop(); }

domain::Result<void> SnapshotWaits::wait(const std::string& principal, events::GlobalPosition needed,
                                         std::chrono::milliseconds timeout, Done done) {
  std::lock_guard lock(mu_);
  if (stopping_) {
    return domain::fail(domain::ErrorKind::kUnavailable, "shutting_down", "the service is shutting down");
  }
  int& held = per_principal_[principal];
  if (held >= options_.per_principal || static_cast<int>(waiters_.size()) >= options_.total) {
    const bool mine = held >= options_.per_principal;
    if (held == 0) per_principal_.erase(principal);
    domain::Error e{domain::ErrorKind::kResourceExhausted,
                    "too_many_waits",
                    mine ? "this principal already waits for the read model in too many requests; retry later"
                         : "too many requests wait for the read model; retry later",
                    {}};
    e.with("limit", mine ? options_.per_principal : options_.total).with("retry_after_seconds", 1);
    return std::unexpected(std::move(e));
  }
  ++held;
  const bool was_idle = waiters_.empty();
  waiters_.emplace(next_id_++, Waiter{principal, needed, std::chrono::steady_clock::now() + timeout, std::move(done)});
  if (was_idle) cv_.notify_all();
  return {};
}

void SnapshotWaits::notify() {
  {
    std::lock_guard lock(mu_);
    if (waiters_.empty()) return;
    advanced_ = true;
  }
  cv_.notify_all();
}

int SnapshotWaits::waiting(const std::string& principal) const {
  std::lock_guard lock(mu_);
  auto it = per_principal_.find(principal);
  return it == per_principal_.end() ? 0 : it->second;
}

void SnapshotWaits::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !watcher_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

std::vector<std::pair<SnapshotWaits::Done, SnapshotWaits::Outcome>> SnapshotWaits::take_finished(
    events::GlobalPosition position, std::chrono::steady_clock::time_point now) {
  std::vector<std::pair<Done, Outcome>> out;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    Outcome outcome;
    if (stopping_) {
      outcome = Outcome::kStopped;
    } else if (position >= it->second.needed) {
      outcome = Outcome::kReached;
    } else if (now >= it->second.deadline) {
      outcome = Outcome::kTimedOut;
    } else {
      ++it;
      continue;
    }
    if (--per_principal_[it->second.principal] <= 0) per_principal_.erase(it->second.principal);
    out.emplace_back(std::move(it->second.done), outcome);
    it = waiters_.erase(it);
  }
  return out;
}

void SnapshotWaits::run() {
  events::GlobalPosition position{-1};
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !waiters_.empty(); });
    if (!stopping_) {
      lock.unlock();
      if (auto cp = checkpoint_()) {
        position = *cp;
      } else {
        spdlog::warn("snapshot waits: reading the checkpoint failed: {}", cp.error().message);
      }
      lock.lock();
    }
    auto finished = take_finished(position, std::chrono::steady_clock::now());
    const bool stopping = stopping_;
    lock.unlock();
    for (auto& [done, outcome] : finished) {
      try {
        done(outcome);
      } catch (const std::exception& e) {
        spdlog::error("snapshot waits: a waiter threw: {}", e.what());
      } catch (...) {
        spdlog::error("snapshot waits: a waiter threw a non-exception");
      }
    }
    finished.clear();
    lock.lock();
    if (stopping) return;
    cv_.wait_for(lock, options_.poll, [&] { return stopping_ || advanced_; });
    advanced_ = false;
  }
}

}  // namespace ledger::routes

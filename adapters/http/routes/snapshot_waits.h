// Read-your-writes waits that hold no thread: one watcher thread per process
// reads the read model's checkpoint while anyone waits, and wakes the
// waiters whose position it reached (or whose time ran out).
//
//   SnapshotWaits waits([&] { return lowest_checkpoint(); }, {.per_principal = 4});
//   auto ok = waits.wait("org-acme/user:alice", needed, 2000ms, [respond](SnapshotWaits::Outcome o) {
//     respond.resume([=] { ... answer ... });   // keep `done` short: it runs on the watcher thread
//   });
//   if (!ok) return error_response(ok.error());   // 429 `too_many_waits`
//
// Caps: a principal (any string key) holds at most `per_principal` waits at
// once, the process at most `total`; a wait beyond either is refused at once
// with kResourceExhausted `too_many_waits` (429, Retry-After 1) and its
// `done` is never called. The checkpoint is read every `poll` while waits
// exist, never while none do; a failing read is logged and retried (waits
// then end by their deadline).
//
// Lifecycle: the watcher starts in the constructor; stop() (and the
// destructor) calls every pending `done` with kStopped and joins it. After
// stop(), wait() is refused with kUnavailable `shutting_down`.
// Thread-safety: every method may be called from any thread, but stop() not
// from inside a `done`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "domain/error.h"
#include "events/position.h"

namespace ledger::routes {

class SnapshotWaits {
 public:
  struct Options {
    int per_principal = 4;
    int total = 1024;
    std::chrono::milliseconds poll{10};
  };
  enum class Outcome { kReached, kTimedOut, kStopped };
  using Checkpoint = std::function<domain::Result<events::GlobalPosition>()>;
  using Done = std::function<void(Outcome)>;

  SnapshotWaits(Checkpoint checkpoint, Options options);
  ~SnapshotWaits();
  SnapshotWaits(const SnapshotWaits&) = delete;
  SnapshotWaits& operator=(const SnapshotWaits&) = delete;

  // Waits until the checkpoint reaches `needed` or `timeout` passes; `done`
  // runs exactly once, on the watcher thread, unless an error is returned.
  domain::Result<void> wait(const std::string& principal, events::GlobalPosition needed,
                            std::chrono::milliseconds timeout, Done done);

  // Reads the checkpoint now (on the calling thread).
  domain::Result<events::GlobalPosition> checkpoint() const { return checkpoint_(); }

  // The checkpoint moved: check the waiters now instead of at the next
  // `poll` (the in-memory read models' apply loop calls it per batch).
  void notify();

  // How many waits `principal` holds now (for tests and metrics).
  int waiting(const std::string& principal) const;

  void stop();

 private:
  struct Waiter {
    std::string principal;
    events::GlobalPosition needed;
    std::chrono::steady_clock::time_point deadline;
    Done done;
  };
  void run();
  // Removes and returns the waiters that are done at `position` / `now`
  // (mu_ held), with their outcomes.
  std::vector<std::pair<Done, Outcome>> take_finished(events::GlobalPosition position,
                                                      std::chrono::steady_clock::time_point now);

  const Checkpoint checkpoint_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool advanced_ = false;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, Waiter> waiters_;
  std::map<std::string, int> per_principal_;
  std::thread watcher_;
};

}  // namespace ledger::routes

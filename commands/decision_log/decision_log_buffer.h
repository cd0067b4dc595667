// The decision log's buffer between the decision path and the thread that
// publishes (issue 13 part 6): bounded, never blocking the decision.
//
//   DecisionLogBuffer buffer(65536);
//   buffer.push(record);                        // decision thread: O(1), never waits for I/O
//   buffer.push_made([&] { return make(); });   // the same, built only when there is room
//   auto batch = buffer.drain(500, 50ms);       // publisher thread
//   auto batch = buffer.drain(500, 50ms, 20ms); // the same, lingering for more
//
// push() takes the record when fewer than `capacity` are queued, else drops
// it and counts it (dropped()): the decision still answers, the loss is
// never silent (the publisher logs the count, the query service shows it on
// GET /v1/decisions/log/status). drain() waits up to `wait` for a first
// record, then returns at most `max` in the order they were pushed (empty
// on timeout or once closed and empty). With a `linger`, once it has a first
// record it waits up to that long more while fewer than `max` are queued:
// fewer, larger batches at a low rate (what the publisher pays is per batch),
// and no wait once `max` are there, or the buffer is full (a capacity below
// `max`). A push wakes the drainer only when it gives it what it waits for
// (a first record, `max`, or a full buffer), not on every push.
// close() wakes the drainer; records pushed after close() are dropped and
// counted.
// Thread-safe: any number of pushers, any number of drainers (with several
// lingering drainers, one may wait out its linger though `max` is queued).
// A drain that takes everything queued holds the lock for a swap of the
// queue; only a backlog of more than `max` is moved record by record under
// it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "commands/decision_log/decision_record.h"

namespace ledger::commands {

class DecisionLogBuffer {
 public:
  explicit DecisionLogBuffer(std::size_t capacity) : capacity_(capacity) {}

  // True when queued; false when the buffer was full (or closed): dropped.
  bool push(DecisionRecord r);
  // The same for the record make() returns, but make() is called only when
  // there is room: a full buffer counts the drop without the record being
  // built (under a load its publisher cannot hold, most records would be
  // built only to be dropped). Room is looked at without the lock, so a
  // race may still drop a record that was built, never queue one too many.
  template <class Make>
  bool push_made(Make&& make) {
    if (queued_.load(std::memory_order_relaxed) >= capacity_) {
      count_dropped();
      return false;
    }
    return push(std::forward<Make>(make)());
  }
  std::vector<DecisionRecord> drain(std::size_t max, std::chrono::milliseconds wait,
                                    std::chrono::milliseconds linger = std::chrono::milliseconds(0));
  void close();

  std::size_t capacity() const { return capacity_; }
  std::size_t size() const;
  std::uint64_t accepted() const;  // pushed and queued, ever
  std::uint64_t dropped() const;   // pushed and dropped, ever
  bool closed() const;

 private:
  void count_dropped();

  const std::size_t capacity_;
  std::atomic<std::size_t> queued_{0};  // queue_.size(), kept with it: read without the lock
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<DecisionRecord> queue_;
  std::size_t wake_at_ = 1;  // the queue size at which push() wakes the drainer
  std::uint64_t accepted_ = 0;
  std::uint64_t dropped_ = 0;
  bool closed_ = false;
};

}  // namespace ledger::commands

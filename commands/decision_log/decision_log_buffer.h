// The decision log's buffer between the decision path and the thread that
// publishes (issue 13 part 6): bounded, never blocking the decision.
//
//   DecisionLogBuffer buffer(65536);
//   buffer.push(record);                        // decision thread: O(1), never waits for I/O
//   auto batch = buffer.drain(500, 50ms);       // publisher thread
//
// push() takes the record when fewer than `capacity` are queued, else drops
// it and counts it (dropped()): the decision still answers, the loss is
// never silent (the publisher logs the count, the query service shows it on
// GET /v1/decisions/log/status). drain() waits up to `wait` for a first
// record, then returns at most `max` in the order they were pushed (empty
// on timeout or once closed and empty). close() wakes the drainer; records
// pushed after close() are dropped and counted.
// Thread-safe: any number of pushers, any number of drainers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "commands/decision_log/decision_record.h"

namespace ledger::commands {

class DecisionLogBuffer {
 public:
  explicit DecisionLogBuffer(std::size_t capacity) : capacity_(capacity) {}

  // True when queued; false when the buffer was full (or closed): dropped.
  bool push(DecisionRecord r);
  std::vector<DecisionRecord> drain(std::size_t max, std::chrono::milliseconds wait);
  void close();

  std::size_t capacity() const { return capacity_; }
  std::size_t size() const;
  std::uint64_t accepted() const;  // pushed and queued, ever
  std::uint64_t dropped() const;   // pushed and dropped, ever
  bool closed() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<DecisionRecord> queue_;
  std::uint64_t accepted_ = 0;
  std::uint64_t dropped_ = 0;
  bool closed_ = false;
};

}  // namespace ledger::commands

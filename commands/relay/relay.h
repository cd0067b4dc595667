// The relay: copies committed events from the event store to the bus in
// global order, gap-free, at least once (invariant 3 of ARCHITECTURE.md).
//
//   relay::Relay r(source, publisher, checkpoint);
//   r.run(stop);   // or r.step() from a test, one batch at a time
//
// A batch is read after the durable position, published whole, and only
// then is the position stored. Any failure drops what the relay believed and
// restarts from the durable position, so an event is never skipped; it may
// be published twice (consumers dedupe by global_position).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "commands/relay/ports.h"

namespace ledger::relay {

struct LoopOptions {
  std::size_t batch_size = 1000;
  std::chrono::milliseconds idle_wait{1000};  // wait_for_commit when nothing is new
  std::chrono::milliseconds back_off{500};    // after a failure
};

enum class StepOutcome {
  kPublished,  // a batch went out and its last position is durable
  kIdle,       // nothing new after the durable position
  kFailed,     // a port failed; the next step starts from the durable position
};
// Told after each step of run() (metrics): its outcome and the durable
// position then. Must not throw.
using StepObserver = std::function<void(StepOutcome, std::optional<events::GlobalPosition> published)>;

class Relay {
 public:
  Relay(EventSource& source, EventPublisher& publisher, PositionCheckpoint& checkpoint, LoopOptions options = {});

  // One batch; never blocks on wait_for_commit (run() does).
  StepOutcome step();
  // Steps until `stop`, waiting for commits when idle and backing off after
  // failures.
  void run(const std::atomic<bool>& stop, const StepObserver& observe = {});

  // The durable position as the relay last knew it (nullopt before the
  // first load or after a failure).
  std::optional<events::GlobalPosition> published() const { return published_; }

 private:
  StepOutcome fail(const char* what, const domain::Error& e);

  EventSource& source_;
  EventPublisher& publisher_;
  PositionCheckpoint& checkpoint_;
  LoopOptions options_;
  std::optional<events::GlobalPosition> published_;
};

}  // namespace ledger::relay

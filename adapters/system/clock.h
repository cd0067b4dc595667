// The wall clock behind the Clock port, and a manual clock for tests.
#pragma once

#include <atomic>

#include "commands/ports.h"

namespace ledger::adapters::system {

class SystemClock final : public commands::Clock {
 public:
  events::Instant now() override;
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public commands::Clock {
 public:
  explicit ManualClock(events::Instant start) : micros_(start.micros) {}
  events::Instant now() override { return events::Instant{micros_.load()}; }
  void advance_micros(std::int64_t d) { micros_ += d; }
  void set(events::Instant t) { micros_ = t.micros; }

 private:
  std::atomic<std::int64_t> micros_;
};

}  // namespace ledger::adapters::system

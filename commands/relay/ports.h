// The relay's ports: where committed events come from, where they go, and
// where the relay remembers how far it got. PostgreSQL and Kafka implement
// them in adapters/relay/; adapters/memory/relay_ports.h for unit tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "domain/error.h"
#include "events/event.h"

namespace ledger::relay {

// Committed history in global order (the event store).
class EventSource {
 public:
  virtual ~EventSource() = default;
  // Events with global_position > after, ascending, at most `limit`. Every
  // position up to the last one returned is committed: the store never shows
  // a later commit before an earlier one (invariant 3).
  virtual domain::Result<std::vector<events::RecordedEvent>> read_after(events::GlobalPosition after,
                                                                        std::size_t limit) = 0;
  // Returns when a commit may have happened, or after `timeout`.
  virtual void wait_for_commit(std::chrono::milliseconds timeout) = 0;
};

// The bus (`ledger.events`).
class EventPublisher {
 public:
  virtual ~EventPublisher() = default;
  // Sends the batch in order and returns only once the bus acknowledged all
  // of it. On an error any prefix may have been delivered; the publisher
  // drops its session, so the next call starts a fresh one (nothing half-sent
  // survives) and the relay re-sends from its durable position.
  virtual domain::Result<void> publish(std::span<const events::RecordedEvent> batch) = 0;
};

// The last position known to be on the bus, durable across restarts.
class PositionCheckpoint {
 public:
  virtual ~PositionCheckpoint() = default;
  virtual domain::Result<events::GlobalPosition> load() = 0;
  virtual domain::Result<void> store(events::GlobalPosition position) = 0;
};

}  // namespace ledger::relay

// In-memory ports of the relay (commands/relay/ports.h) for unit tests:
// a committed history, a bus that records what it received, and a
// checkpoint. Each can be told to fail, to exercise the relay's recovery.
// Not thread-safe (tests drive Relay::step() from one thread).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "commands/relay/ports.h"

namespace ledger::adapters::memory {

inline domain::Error injected_failure(const char* what) {
  return domain::Error{
      .kind = domain::ErrorKind::kUnavailable, .code = "injected_failure", .message = what, .evidence = {}};
}

class MemoryEventSource final : public relay::EventSource {
 public:
  std::vector<events::RecordedEvent> committed;  // positions 1..n, in order
  bool fail_next_read = false;
  // Positions the next read leaves out (a broken store), to show the relay
  // refuses a gap.
  std::optional<events::GlobalPosition> hide_position;

  domain::Result<std::vector<events::RecordedEvent>> read_after(events::GlobalPosition after,
                                                                std::size_t limit) override {
    if (fail_next_read) {
      fail_next_read = false;
      return std::unexpected(injected_failure("read"));
    }
    std::vector<events::RecordedEvent> out;
    for (const auto& e : committed) {
      if (out.size() == limit) break;
      if (e.meta.global_position <= after) continue;
      if (hide_position && e.meta.global_position == *hide_position) continue;
      out.push_back(e);
    }
    return out;
  }
  void wait_for_commit(std::chrono::milliseconds) override {}
};

class MemoryBus final : public relay::EventPublisher {
 public:
  std::vector<events::GlobalPosition> received;  // every delivered position, duplicates included
  // The next publish delivers this many events of its batch, then fails.
  std::optional<std::size_t> fail_after;
  std::size_t sessions = 0;  // publish calls that started a fresh session
  bool session_open = false;

  domain::Result<void> publish(std::span<const events::RecordedEvent> batch) override {
    if (!session_open) {
      session_open = true;
      ++sessions;
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (fail_after && i == *fail_after) {
        fail_after.reset();
        session_open = false;
        return std::unexpected(injected_failure("publish"));
      }
      received.push_back(batch[i].meta.global_position);
    }
    return {};
  }
};

class MemoryCheckpoint final : public relay::PositionCheckpoint {
 public:
  events::GlobalPosition position;
  bool fail_next_load = false;
  bool fail_next_store = false;

  domain::Result<events::GlobalPosition> load() override {
    if (fail_next_load) {
      fail_next_load = false;
      return std::unexpected(injected_failure("load"));
    }
    return position;
  }
  domain::Result<void> store(events::GlobalPosition p) override {
    if (fail_next_store) {
      fail_next_store = false;
      return std::unexpected(injected_failure("store"));
    }
    position = p;
    return {};
  }
};

}  // namespace ledger::adapters::memory

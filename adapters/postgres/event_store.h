// The PostgreSQL event store (schema in sql/001_event_store.sql).
//
// PgEventStore is the single writer: it appends only while it holds the
// writer advisory lock on its own connection, so if the connection dies the
// lock goes with it and a standby instance takes over. It assigns global
// positions and hash-chain links in commit order from the head it read when it
// took the lock; the database re-checks every link (trigger) and refuses
// updates and deletes. Thread-compatible: the command service's writer thread
// is its only caller.
//
// PgEventReader reads committed history in global order (relay, rebuilds,
// auditors) and can wait for new commits (LISTEN ledger_events).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commands/chain_anchor.h"
#include "commands/ports.h"
#include "domain/error.h"
#include "events/event.h"

namespace ledger::adapters::postgres {

// The advisory-lock key of the single writer ("ledger w" in ASCII).
inline constexpr std::int64_t kWriterLockKey = 0x6c65646765722077;

class PgEventStore final : public commands::EventStore, public commands::ChainHeadSource {
 public:
  PgEventStore(std::string url, commands::Clock& clock);
  ~PgEventStore() override;

  domain::Result<std::uint64_t> acquire_writer() override;
  domain::Result<std::vector<events::Envelope>> read_stream(const std::string& stream_id) override;
  domain::Result<std::vector<events::Envelope>> read_by_types(std::span<const std::string> types,
                                                              events::GlobalPosition after_position,
                                                              std::size_t limit) override;
  domain::Result<std::vector<std::optional<commands::CommandOutcome>>> find_outcomes(
      std::span<const commands::IdempotencyKey> keys) override;
  domain::Result<std::vector<commands::CommandOutcome>> append(std::span<const commands::StreamAppend> batch) override;
  // The head this writer read when it took the lock, moved by each commit.
  commands::ChainHead chain_head() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class PgEventReader {
 public:
  explicit PgEventReader(std::string url);
  ~PgEventReader();

  // Up to `limit` events with position > `after`, in global order.
  domain::Result<std::vector<events::RecordedEvent>> read_after(events::GlobalPosition after, std::size_t limit);
  // Events of one stream, in version order.
  domain::Result<std::vector<events::RecordedEvent>> read_stream(const std::string& stream_id);
  domain::Result<events::GlobalPosition> head_position();
  // Blocks until a commit is announced or `timeout` passes (spurious wake-ups
  // are fine: callers re-read).
  void wait_for_commit(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The relay's durable published position.
class PgRelayCheckpoint {
 public:
  PgRelayCheckpoint(std::string url, std::string relay_name);
  ~PgRelayCheckpoint();
  domain::Result<events::GlobalPosition> load();
  domain::Result<void> store(events::GlobalPosition position);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::adapters::postgres

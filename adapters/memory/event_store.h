// In-memory EventStore and ReadModelStore for fast unit tests of the logic
// above the ports. Same contracts as the PostgreSQL adapters (positions,
// chain, idempotency records, checkpoint compare-and-set), no durability.
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "commands/chain_anchor.h"
#include "commands/ports.h"
#include "projections/projection.h"

namespace ledger::adapters::memory {

class InMemoryEventStore final : public commands::EventStore, public commands::ChainHeadSource {
 public:
  explicit InMemoryEventStore(commands::Clock& clock) : clock_(clock) {}

  domain::Result<std::uint64_t> acquire_writer() override;
  domain::Result<std::vector<events::Envelope>> read_stream(const std::string& stream_id) override;
  domain::Result<std::vector<events::Envelope>> read_by_types(std::span<const std::string> types,
                                                              events::GlobalPosition after_position,
                                                              std::size_t limit) override;
  domain::Result<std::vector<std::optional<commands::CommandOutcome>>> find_outcomes(
      std::span<const commands::IdempotencyKey> keys) override;
  domain::Result<std::vector<commands::CommandOutcome>> append(std::span<const commands::StreamAppend> batch) override;

  commands::ChainHead chain_head() const override;

  std::vector<events::RecordedEvent> all() const;
  // The next call of any method fails with `e` (once), as a database outage would.
  void fail_next(domain::Error e);

 private:
  std::optional<domain::Error> take_failure();

  commands::Clock& clock_;
  mutable std::mutex mu_;
  std::vector<events::RecordedEvent> events_;
  std::map<commands::IdempotencyKey, commands::CommandOutcome> outcomes_;
  std::optional<domain::Error> failure_;
  std::uint64_t id_counter_ = 0;
};

class InMemoryReadModelStore final : public projections::ReadModelStore {
 public:
  using Row = std::vector<std::pair<std::string, projections::Cell>>;
  using Table = std::map<Row, Row>;  // key columns -> value columns

  domain::Result<events::GlobalPosition> checkpoint(std::string_view projection) override;
  domain::Result<void> commit(std::string_view projection, std::span<const projections::RowOp> ops,
                              events::GlobalPosition from, events::GlobalPosition to) override;

  std::map<std::string, Table> tables() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, events::GlobalPosition, std::less<>> checkpoints_;
  std::map<std::string, Table> tables_;
};

}  // namespace ledger::adapters::memory

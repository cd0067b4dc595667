// Read models as pure functions of history.
//
// A Projection turns one event into row operations on its read-model tables.
// It reads no clock and keeps no state between events, so applying the same
// history always yields the same rows (rebuild == live). The ProjectionRunner
// adds the exactly-once part: it skips positions at or below the checkpoint,
// refuses gaps, and has the store commit rows and checkpoint together.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/error.h"
#include "events/event.h"

namespace ledger::projections {

// A cell in PostgreSQL's text input form (the store lets the column type
// parse it); nullopt is NULL.
using Cell = std::optional<std::string>;

// Insert-or-replace of one row identified by its key columns, or its removal.
struct RowOp {
  std::string table;
  std::vector<std::pair<std::string, Cell>> key;
  std::vector<std::pair<std::string, Cell>> values;
  bool remove = false;
  friend bool operator==(const RowOp&, const RowOp&) = default;
};

class Projection {
 public:
  virtual ~Projection() = default;
  virtual std::string_view name() const = 0;
  virtual std::vector<RowOp> apply(const events::Envelope& e) const = 0;
};

// Where read-model rows and checkpoints live (PostgreSQL, or memory in tests).
class ReadModelStore {
 public:
  virtual ~ReadModelStore() = default;
  virtual domain::Result<events::GlobalPosition> checkpoint(std::string_view projection) = 0;
  // Applies `ops` and moves the checkpoint from `from` to `to` in ONE
  // transaction. If the stored checkpoint is no longer `from` (another
  // instance advanced it), nothing is written: kAborted `checkpoint_moved`.
  virtual domain::Result<void> commit(std::string_view projection, std::span<const RowOp> ops,
                                      events::GlobalPosition from, events::GlobalPosition to) = 0;
};

struct ApplyStats {
  std::size_t applied = 0;
  std::size_t skipped = 0;  // at or below the checkpoint: duplicates
  events::GlobalPosition checkpoint;
};

// Applies recorded events to one projection. Thread-compatible.
class ProjectionRunner {
 public:
  ProjectionRunner(const Projection& projection, ReadModelStore& store) : projection_(projection), store_(store) {}

  // Events must come in global order; duplicates are skipped, and a gap
  // (a position past checkpoint + 1) is refused with `position_gap` and
  // nothing of the batch written.
  domain::Result<ApplyStats> apply(std::span<const events::RecordedEvent> batch);
  domain::Result<events::GlobalPosition> checkpoint();

 private:
  const Projection& projection_;
  ReadModelStore& store_;
  std::optional<events::GlobalPosition> checkpoint_;
};

}  // namespace ledger::projections

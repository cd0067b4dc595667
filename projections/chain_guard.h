// ChainGuard: the gate every consumer of `ledger.events` puts between the
// topic and its read models (invariant 8: nothing outside the writer is
// trusted). Kafka records come in; only events that continue the hash chain
// come out, gap-free from the last applied position.
//
//   ChainGuard guard(history);                 // history: the event store
//   guard.anchor(checkpoint);                   // hash at the checkpoint, from the store
//   auto g = guard.admit(records);              // Result<Guarded>
//   apply(g->events);                           // contiguous, each linked to the one before
//   for (auto& a : g->alarms) raise(a);         // what was refused, and why
//
// For each record, in order:
//   - not an envelope (not JSON, wrong fields)    -> alarm `junk_record`, skipped
//   - at or below the last admitted position       -> a duplicate: skipped silently when
//     its hash is the one admitted there (or, beyond the memory of recent positions,
//     when it is self-consistent); else alarm `conflicting_duplicate` / `hash_mismatch`
//   - beyond the next position                    -> the missing events are read from the
//     store first (each link checked), then the record is judged as the next one; a
//     position the store does not have is alarm `unknown_position`, skipped
//   - the next position: its hash must be the recomputed one and its prev_hash the
//     admitted head's hash (codec::verify_link). Else alarm `hash_mismatch` /
//     `broken_link`, and the TRUE event at that position is read from the store and
//     admitted instead, so the consumer continues.
// A forged record is therefore never applied, and the genuine record that
// Kafka delivers for that position later is an ordinary duplicate.
//
// Errors (nothing admitted, the caller re-reads later): the store is down;
// the store's own events do not chain (`store_chain_broken`: history itself
// is damaged, run `ledger-audit verify`); a gap wider than `max_fill`
// (`position_gap`: catch up from the store instead).
//
// Thread-compatible; one consumer thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "domain/error.h"
#include "events/event.h"

namespace ledger::projections {

// One record as it came off the topic.
struct FeedRecord {
  std::int64_t offset = -1;  // Kafka offset; -1 when unknown
  std::string value;         // the envelope's JSON text (codec::to_json_text)
};

// The event store, read-only: the true history a refused record is replaced from.
class TrueHistory {
 public:
  virtual ~TrueHistory() = default;
  // Up to `limit` events with position > `after`, in global order.
  virtual domain::Result<std::vector<events::RecordedEvent>> read_after(events::GlobalPosition after,
                                                                        std::size_t limit) = 0;
};

// A record that was not applied as it came.
struct ChainAlarm {
  // junk_record, hash_mismatch, broken_link, unknown_position, conflicting_duplicate
  std::string reason;
  std::int64_t offset = -1;         // Kafka offset of the record
  events::GlobalPosition position;  // the position it claimed (0: unreadable)
  bool replaced = false;            // the true event at `position` was read from the store and applied instead
  std::string detail;               // operator evidence (never the record's payload)
};

struct Guarded {
  std::vector<events::RecordedEvent> events;  // contiguous from position() + 1 at the call
  std::vector<ChainAlarm> alarms;
};

class ChainGuard {
 public:
  explicit ChainGuard(TrueHistory& history, std::int64_t max_fill = 100000) : history_(history), max_fill_(max_fill) {}

  // Starts (again) after `position`, the consumer's checkpoint: its hash is
  // read from the store (genesis at 0). Call at start and whenever the
  // consumer did not apply what the guard admitted (a failed commit).
  domain::Result<void> anchor(events::GlobalPosition position);
  bool anchored() const { return anchored_; }
  void unanchor() { anchored_ = false; }
  events::GlobalPosition position() const { return position_; }
  const std::string& head_hash() const { return hash_; }

  // Requires anchored(). Moves the head to the last admitted event.
  domain::Result<Guarded> admit(std::span<const FeedRecord> records);

 private:
  void remember(const events::RecordedEvent& r);
  domain::Result<void> fill_to(events::GlobalPosition last, Guarded& out);
  domain::Result<void> admit_from_store(events::GlobalPosition position, Guarded& out, ChainAlarm& alarm);

  TrueHistory& history_;
  std::int64_t max_fill_;
  bool anchored_ = false;
  events::GlobalPosition position_;
  std::string hash_;
  std::map<events::GlobalPosition, std::string> recent_;  // position -> hash admitted there (the last kRecent)
};

}  // namespace ledger::projections

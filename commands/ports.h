// Ports the command side needs, implemented in adapters/ (PostgreSQL for
// real, in-memory for unit tests).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "domain/error.h"
#include "events/event.h"

namespace ledger::commands {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual events::Instant now() = 0;
};

// Whose idempotency record a command id names (invariant 7: no tenant can
// collide with, squat or read another's). A caller's key is its tenant, its
// actor type and id, and the command id it sent (commands/idempotency.h);
// commands the ledger makes itself have keys with an empty tenant, which no
// authenticated principal has.
struct IdempotencyKey {
  std::string tenant;
  std::string actor_type;
  std::string actor_id;
  std::string command_id;
  friend auto operator<=>(const IdempotencyKey&, const IdempotencyKey&) = default;
};

// Events for one stream, appended after `expected_version`, all caused by one
// command. `meta` carries the envelope fields shared by the events (actor,
// tenant, correlation/causation/command ids, occurred_at); the store assigns
// positions, stream versions, event ids, recorded_at and hashes.
// An entry with no events records only the outcome of a command that changed
// nothing; `position_if_empty` is then the position it reports.
struct StreamAppend {
  std::string stream_id;
  events::StreamVersion expected_version;
  events::EventMeta meta;
  std::vector<events::Event> events;
  events::GlobalPosition position_if_empty;
  // The outcome record's key and the SHA-256 of the request it answers
  // (commands/idempotency.h). `meta.command_id` stays what the caller sent.
  IdempotencyKey idempotency = {};
  std::string request_hash = {};
};

// The durable outcome of an accepted command: the idempotency record.
// A command that changed nothing (already so) has no events; its position is
// the stream's last position at the time.
struct CommandOutcome {
  std::string command_id;
  std::string stream_id;
  std::vector<std::string> event_ids;
  events::GlobalPosition position;       // global position of its last event
  events::StreamVersion stream_version;  // stream version after it
  // SHA-256 (hex) of the request it answered; empty for records written
  // before requests were hashed (any body then counts as the same request).
  std::string request_hash = {};
  // The position of the writer's state the command was decided against
  // (seed 001, mutation rule 5): the writer decides every command against
  // its model at its head, the earlier commands of the same group commit
  // included, so this is the last position before the command's first event
  // (for a command that changed nothing, the head when it was decided). The
  // store assigns it with the positions; nullopt in a record kept from
  // before it was recorded.
  std::optional<events::GlobalPosition> decided_at_position = {};
  // The commit time the writer gave its events (every event of one group
  // commit shares it); nullopt in a record that does not say.
  std::optional<events::Instant> recorded_at = {};
};

// The snapshot kind of a command's evidence: the single writer's in-memory
// state (admission model, policy-key streams, entitlement and configuration
// models) at its head.
inline constexpr const char* kWriterSnapshotKind = "writer_model";

// The event store as the single writer sees it.
//
// Thread-compatible: one writer thread calls it. Errors: kUnavailable when the
// database cannot be reached (nothing written), code `not_writer` (also
// kUnavailable) when another instance holds the writer lock, kAborted
// `stream_version_conflict` when the database refused an append because the
// stream moved on.
class EventStore {
 public:
  virtual ~EventStore() = default;

  // Makes sure this instance holds the writer lock, (re)connecting if need be.
  // Returns the writer epoch: it changes whenever the lock was (re)acquired,
  // and state cached under an older epoch must be dropped.
  virtual domain::Result<std::uint64_t> acquire_writer() = 0;

  virtual domain::Result<std::vector<events::Envelope>> read_stream(const std::string& stream_id) = 0;
  // Events whose type is one of `types`, after `after_position`, in global
  // order, at most `limit` (the admission model loads itself this way).
  virtual domain::Result<std::vector<events::Envelope>> read_by_types(std::span<const std::string> types,
                                                                      events::GlobalPosition after_position,
                                                                      std::size_t limit) = 0;
  // Outcome per key, nullopt for a key never accepted.
  virtual domain::Result<std::vector<std::optional<CommandOutcome>>> find_outcomes(
      std::span<const IdempotencyKey> keys) = 0;
  // Appends every entry in order in ONE transaction, each with its command's
  // outcome record (group commit); all or nothing. Returns one outcome per
  // entry.
  virtual domain::Result<std::vector<CommandOutcome>> append(std::span<const StreamAppend> batch) = 0;
};

}  // namespace ledger::commands

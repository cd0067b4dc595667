// Idempotency keys and request hashes (invariant 1 and 7): a retried command
// returns its first outcome, and nobody else's.
//
//   IdempotencyKey k = idempotency_key(request.meta);      // (tenant, actor, command_id)
//   switch (replay_of(prior, request.meta.request_hash)) { ... }
//
// - A caller's key is (its tenant, its actor type, its actor id, the
//   command_id it sent). Two principals sending the same command_id never
//   meet: neither can make the other's command a duplicate, nor read the
//   other's event ids and position by replaying its id.
// - With the key the store keeps the SHA-256 of the canonical request
//   (request_hash): the command type and the decoded body without
//   `command_id` and `type`, keys sorted, no whitespace, top-level nulls
//   dropped (an absent optional field and a null one are the same request).
//   A reuse of the key with the same request returns the first outcome
//   (`duplicate: true`); with another request it is 409
//   `idempotency_key_reused` and nothing is written.
// - The ledger's own commands (the reservation sweeper, the AccessRefused
//   record of a refused command) have internal keys: an empty tenant, which
//   no authenticated principal has (an empty token tenant counts as
//   `platform`, as everywhere), so no caller can predict or collide with
//   them whatever command_id it sends. Their envelopes keep the readable
//   command ids they always had.
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "commands/command.h"
#include "commands/ports.h"
#include "domain/error.h"

namespace ledger::commands {

// The key of a request: internal (meta.internal) or the caller's.
IdempotencyKey idempotency_key(const CommandMeta& meta);

// A key in the ledger's internal namespace: `component` names who makes the
// commands (e.g. "reservation-sweeper"), `command_id` is unique within it.
IdempotencyKey internal_key(std::string_view component, std::string_view command_id);

// The internal key of the AccessRefused record written for a command refused
// for reaching into another organization: one record per refused
// (principal, command id), which no principal's own command can occupy.
IdempotencyKey refusal_record_key(const IdempotencyKey& refused);

// SHA-256 (hex) of a key's unambiguous encoding: ids derived from it (an
// attached policy's) are the same on every retry of the command.
std::string idempotency_digest(const IdempotencyKey& key);

// The id of the policy an app_policy.attach request creates: derived from
// the caller and its command id (never chosen by the caller), so a retry
// names the same policy.
std::string attached_policy_id(const CommandMeta& meta);

// The key an append's outcome is recorded under: `a.idempotency`, or for an
// append made without one (tools and tests appending directly) the envelope's
// tenant and actor with its command id.
IdempotencyKey outcome_key(const StreamAppend& a);

// SHA-256 (hex) of the canonical form of a request body of `type`.
std::string request_hash(std::string_view type, const nlohmann::json& body);

// What a request whose key was seen before gets.
enum class Replay {
  kFirst,      // never accepted under this key: decide it
  kDuplicate,  // the same request again: the first outcome, duplicate: true
  kReused,     // another request under the same key: idempotency_key_reused
};
// `prior_hash`: the stored request hash of the key's outcome, nullopt when
// there is none. An empty stored hash (a record from before hashing) matches
// any request.
Replay replay_of(const std::optional<std::string>& prior_hash, std::string_view request_hash);

// 409 `idempotency_key_reused`: the command id was used before, by this
// principal, for a different request. Evidence: the command id and, once
// the first request is committed, `first_position` (its outcome's position).
domain::Error key_reused(const std::string& command_id,
                         std::optional<events::GlobalPosition> first_position = std::nullopt);

// An append of `req`'s events to `stream_id` at `expected_version`: the
// envelope fields every command's append carries (actor, correlation,
// causation, command id, occurred_at = `now`) and its outcome record
// (`key`, the request hash). Tenant, position_if_empty and the events are
// the caller's.
StreamAppend command_append(const CommandRequest& req, std::string stream_id, events::StreamVersion expected_version,
                            const IdempotencyKey& key, events::Instant now);

}  // namespace ledger::commands

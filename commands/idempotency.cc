#include "commands/idempotency.h"

#include <nlohmann/json.hpp>

#include "events/codec/json_codec.h"

namespace ledger::commands {

namespace {

// Length-prefixed, so no choice of ids makes two different tuples one string.
void append_part(std::string& out, std::string_view part) {
  out += std::to_string(part.size());
  out += ':';
  out += part;
}

}  // namespace

IdempotencyKey idempotency_key(const CommandMeta& meta) {
  if (meta.internal) return internal_key(meta.principal.actor.id, meta.command_id);
  // Never empty: the empty tenant is the internal namespace.
  std::string tenant = meta.principal.tenant.empty() ? std::string("platform") : meta.principal.tenant;
  return IdempotencyKey{std::move(tenant), meta.principal.actor.type, meta.principal.actor.id, meta.command_id};
}

IdempotencyKey internal_key(std::string_view component, std::string_view command_id) {
  return IdempotencyKey{"", "ledger", std::string(component), std::string(command_id)};
}

IdempotencyKey refusal_record_key(const IdempotencyKey& refused) {
  std::string tuple;
  append_part(tuple, refused.tenant);
  append_part(tuple, refused.actor_type);
  append_part(tuple, refused.actor_id);
  append_part(tuple, refused.command_id);
  return internal_key("access-refusal", codec::sha256_hex(tuple));
}

std::string idempotency_digest(const IdempotencyKey& key) {
  std::string tuple;
  append_part(tuple, key.tenant);
  append_part(tuple, key.actor_type);
  append_part(tuple, key.actor_id);
  append_part(tuple, key.command_id);
  return codec::sha256_hex(tuple);
}

std::string attached_policy_id(const CommandMeta& meta) {
  return "pol_" + idempotency_digest(idempotency_key(meta)).substr(0, 24);
}

IdempotencyKey outcome_key(const StreamAppend& a) {
  if (!a.idempotency.command_id.empty()) return a.idempotency;
  return IdempotencyKey{a.meta.tenant.empty() ? std::string("platform") : a.meta.tenant, a.meta.actor.type,
                        a.meta.actor.id, a.meta.command_id};
}

std::string request_hash(std::string_view type, const nlohmann::json& body) {
  nlohmann::json canonical = nlohmann::json::object();
  if (body.is_object()) {
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (it.key() == "command_id" || it.key() == "type" || it->is_null()) continue;
      canonical[it.key()] = *it;
    }
  }
  std::string text;
  append_part(text, type);
  // Object keys come out sorted (nlohmann's default object is a std::map).
  text += canonical.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return codec::sha256_hex(text);
}

Replay replay_of(const std::optional<std::string>& prior_hash, std::string_view request_hash) {
  if (!prior_hash) return Replay::kFirst;
  if (prior_hash->empty() || *prior_hash == request_hash) return Replay::kDuplicate;
  return Replay::kReused;
}

domain::Error key_reused(const std::string& command_id, std::optional<events::GlobalPosition> first_position) {
  domain::Error e{domain::ErrorKind::kAborted,
                  "idempotency_key_reused",
                  "this command_id was already used for a different request; use a new command_id",
                  {}};
  e.with("command_id", command_id);
  if (first_position) e.with("first_position", first_position->value);
  return e;
}

StreamAppend command_append(const CommandRequest& req, std::string stream_id, events::StreamVersion expected_version,
                            const IdempotencyKey& key, events::Instant now) {
  StreamAppend a;
  a.stream_id = std::move(stream_id);
  a.expected_version = expected_version;
  a.meta.actor = req.meta.principal.actor;
  a.meta.correlation_id = req.meta.correlation_id;
  a.meta.causation_id = req.meta.causation_id;
  a.meta.command_id = req.meta.command_id;
  a.meta.occurred_at = now;
  a.idempotency = key;
  a.request_hash = req.meta.request_hash;
  return a;
}

}  // namespace ledger::commands

#include "projections/audit_projection.h"

#include <nlohmann/json.hpp>

#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::projections {
namespace {

Cell text(std::string s) { return Cell(std::move(s)); }
Cell integer(std::int64_t v) { return Cell(std::to_string(v)); }
Cell instant(events::Instant t) { return Cell(codec::format_instant(t)); }
Cell json(const nlohmann::json& j) { return Cell(j.dump()); }

// What differs between event types; the envelope part is shared.
struct Change {
  std::string subject_kind;
  std::string subject_key;
  Cell scope_level;
  Cell scope_id;
  Cell before;
  Cell before_source;
  Cell after;
  Cell reason;
  Cell effective_at;
};

Change change_of(const events::PolicyKeyDefined& e) {
  nlohmann::json def = {{"value_type", codec::value_type_name(e.value_type)},
                        {"default_value", codec::encode_value(e.default_value)},
                        {"min", e.min ? nlohmann::json(*e.min) : nlohmann::json()},
                        {"max", e.max ? nlohmann::json(*e.max) : nlohmann::json()},
                        {"allowed", e.allowed},
                        {"description", e.description}};
  // A definition sets the key's global default: it is a change at the
  // global level, from nothing.
  return {"policy_key", e.key, text(codec::scope_level_name(events::ScopeLevel::kGlobal)), text(""), Cell(), Cell(),
          json(def), Cell(), Cell()};
}

Change change_of(const events::PolicyValueSet& e) {
  return {"policy_key",
          e.key,
          text(codec::scope_level_name(e.scope.level)),
          text(e.scope.id),
          json(codec::encode_value(e.before)),
          text(codec::before_source_name(e.before_source)),
          json(codec::encode_value(e.after)),
          text(e.reason),
          instant(e.effective_at)};
}

}  // namespace

std::vector<RowOp> AuditProjection::apply(const events::Envelope& e) const {
  const auto& m = e.meta;
  Change c = std::visit([](const auto& ev) { return change_of(ev); }, e.event);
  nlohmann::json roles = m.actor.roles;
  RowOp op{std::string(kTable),
           {{"position", integer(m.global_position)}},
           {{"event_id", text(m.event_id)},
            {"tenant", text(m.tenant)},
            {"stream_id", text(m.stream_id)},
            {"stream_version", integer(m.stream_version)},
            {"event_type", text(events::type_name(e.event))},
            {"schema_version", integer(events::schema_version(e.event))},
            {"subject_kind", text(std::move(c.subject_kind))},
            {"subject_key", text(std::move(c.subject_key))},
            {"scope_level", std::move(c.scope_level)},
            {"scope_id", std::move(c.scope_id)},
            {"before", std::move(c.before)},
            {"before_source", std::move(c.before_source)},
            {"after", std::move(c.after)},
            {"reason", std::move(c.reason)},
            {"actor_type", text(m.actor.type)},
            {"actor_id", text(m.actor.id)},
            {"actor_roles", json(roles)},
            {"occurred_at", instant(m.occurred_at)},
            {"recorded_at", instant(m.recorded_at)},
            {"effective_at", std::move(c.effective_at)},
            {"correlation_id", text(m.correlation_id)},
            {"causation_id", text(m.causation_id)},
            {"command_id", text(m.command_id)}},
           false};
  return {std::move(op)};
}

}  // namespace ledger::projections

#include "projections/policy_values/policy_values_projection.h"

#include <nlohmann/json.hpp>

#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::projections {
namespace {

Cell text(std::string s) { return Cell(std::move(s)); }
Cell integer(std::int64_t v) { return Cell(std::to_string(v)); }
Cell json_value(const events::PolicyValue& v) { return Cell(codec::encode_value(v).dump()); }

}  // namespace

std::vector<RowOp> PolicyValuesProjection::apply(const events::Envelope& e) const {
  std::vector<RowOp> ops;
  const auto& m = e.meta;
  std::visit(
      [&](const auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, events::PolicyKeyDefined>) {
          nlohmann::json allowed = ev.allowed;
          ops.push_back(RowOp{"policy_keys",
                              {{"key", text(ev.key)}},
                              {{"value_type", text(codec::value_type_name(ev.value_type))},
                               {"default_value", json_value(ev.default_value)},
                               {"min_value", ev.min ? integer(*ev.min) : Cell()},
                               {"max_value", ev.max ? integer(*ev.max) : Cell()},
                               {"allowed", text(allowed.dump())},
                               {"description", text(ev.description)},
                               {"position", integer(m.global_position.value)}},
                              false});
        } else if constexpr (std::is_same_v<T, events::PolicyValueSet>) {
          ops.push_back(RowOp{"policy_values",
                              {{"key", text(ev.key)},
                               {"scope_level", text(codec::scope_level_name(ev.scope.level))},
                               {"scope_id", text(ev.scope.id)},
                               {"position", integer(m.global_position.value)}},
                              {{"value", json_value(ev.after)},
                               {"effective_at", text(codec::format_instant(ev.effective_at))},
                               {"event_id", text(m.event_id)},
                               {"actor_id", text(m.actor.id)},
                               {"reason", text(ev.reason)},
                               {"recorded_at", text(codec::format_instant(m.recorded_at))},
                               {"tenant", text(m.tenant)}},
                              false});
        }
      },
      e.event);
  return ops;
}

}  // namespace ledger::projections

#include "adapters/http/routes/admission_json.h"

#include "events/codec/rfc3339.h"

namespace ledger::routes {

nlohmann::json quota_scope_json(const events::QuotaScope& s) {
  return {{"level", events::quota_level_name(s.level)}, {"id", s.id}};
}

nlohmann::json reservation_fields(const domain::ReservationView& v, std::string_view kind, std::string_view unit,
                                  events::Instant as_of) {
  const bool holds = domain::holds_at(v, as_of);
  return {{"reservation_id", v.reservation_id},
          {"owner", quota_scope_json(v.owner)},
          {"kind", kind},
          {"dimension", v.dimension},
          {"region", v.region},
          {"sku_or_model", v.sku_or_model},
          {"quantity", v.quantity},
          {"consumed", v.consumed},
          {"remaining", v.quantity - v.consumed},
          {"unit", unit},
          {"window_start", codec::format_instant(v.window_start)},
          {"window_end", codec::format_instant(v.window_end)},
          {"state", domain::reservation_state_at(v, as_of)},
          {"recorded_state", v.state},
          {"holds_capacity", holds},
          {"held", holds ? v.quantity : 0}};
}

std::string dump_lenient(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ledger::routes

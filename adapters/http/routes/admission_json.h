// JSON shapes the admission routes, the customer views and the auditor CLI
// share, so a scope or a reservation reads the same wherever it appears.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "domain/admission.h"

namespace ledger::routes {

// {level, id}.
nlohmann::json quota_scope_json(const events::QuotaScope& s);

// The fields every reservation answer carries: id, owner, kind, dimension,
// region, sku_or_model, quantity, consumed, remaining, unit, window_start,
// window_end, `state` (domain::reservation_state_at the answer's instant
// `as_of`), `recorded_state`, and what it holds then (domain::holds_at):
// `holds_capacity` and `held` (its quantity, or 0). Callers add their own
// (organization, owner chain, ...).
nlohmann::json reservation_fields(const domain::ReservationView& v, std::string_view kind, std::string_view unit,
                                  events::Instant as_of);

// Dumps `j`, replacing invalid UTF-8 in user text instead of throwing, so an
// odd byte in stored data never turns an answer into a 500.
std::string dump_lenient(const nlohmann::json& j);

}  // namespace ledger::routes

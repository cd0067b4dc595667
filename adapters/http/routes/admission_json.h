// JSON shapes the admission routes, the customer views and the auditor CLI
// share, so a scope or a reservation reads the same wherever it appears.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/http/routes/product_messages.h"
#include "domain/admission.h"

namespace ledger::routes {

// {level, id}.
nlohmann::json quota_scope_json(const events::QuotaScope& s);

// A quantity, or null.
nlohmann::json nullable(const std::optional<std::int64_t>& v);

// The fields every reservation answer carries: id, owner, kind, dimension,
// region, sku_or_model, quantity, consumed, remaining, unit, window_start,
// window_end, `state` (domain::reservation_state_at the answer's instant
// `as_of`), `recorded_state`, and what it holds then (domain::holds_at):
// `holds_capacity` and `held` (its quantity, or 0). Callers add their own
// (organization, owner chain, ...).
nlohmann::json reservation_fields(const domain::ReservationView& v, std::string_view kind, std::string_view unit,
                                  events::Instant as_of);

// The answer to one decision (policy_decision_output) as a tree, for the
// auditors' re-derivation and the product message to add to; user_message and
// user_message_source are the route's (apply_product_message).
nlohmann::json decision_json(const domain::DecisionOutput& o, events::Instant as_of);
// The same answer with its product message applied, written without a tree:
// byte for byte dump_lenient() of decision_json(o, as_of) after
// apply_product_message set `m`, with `application` (the text of the
// answer's `application` member, the chain's evidence; empty: none).
std::string decision_text(const domain::DecisionOutput& o, events::Instant as_of, const ProductMessage& m,
                          std::string_view application = {});

// Dumps `j`, replacing invalid UTF-8 in user text instead of throwing, so an
// odd byte in stored data never turns an answer into a 500.
std::string dump_lenient(const nlohmann::json& j);

}  // namespace ledger::routes

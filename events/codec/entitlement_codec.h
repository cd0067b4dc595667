// JSON payloads of the plan-entitlement events (events/entitlement_events.h).
//
// As the admission codec: each event's fields are listed once and that list
// drives both directions; decoding is strict (a missing field, a wrong JSON
// type or an unknown field is an error naming the field).
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "events/event.h"

namespace ledger::codec {

// Encodes an entitlement event; nullopt for any other event type.
std::optional<nlohmann::json> encode_entitlement(const events::Event& e);
// Decodes (type, version) if it is an entitlement event type; nullopt if not.
std::optional<std::expected<events::Event, std::string>> decode_entitlement(std::string_view type, int version,
                                                                            const nlohmann::json& payload);

}  // namespace ledger::codec

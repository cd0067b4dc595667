// JSON payloads of the configuration events (events/config_events.h).
// `before`/`after` travel as JSON values (not strings), so the topic and
// exports show the documents; decoding re-serialises them canonically.
// Strict like the admission codec: a missing, mistyped or unknown field is
// an error naming it.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "events/event.h"

namespace ledger::codec {

// Encodes a configuration event; nullopt for any other event type.
std::optional<nlohmann::json> encode_config(const events::Event& e);
// Decodes (type, version) if it is a configuration event type; nullopt if not.
std::optional<std::expected<events::Event, std::string>> decode_config(std::string_view type, int version,
                                                                       const nlohmann::json& payload);

}  // namespace ledger::codec

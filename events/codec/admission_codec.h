// JSON payloads of the admission events (events/admission_events.h) and the
// access-control events (events/access_events.h).
//
// Each event's fields are listed once (admission_codec.cc) and that one list
// drives both directions, so encoder and decoder cannot drift apart.
// Decoding is strict: a missing field, a wrong JSON type or an unknown field
// is an error naming the field.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "events/event.h"

namespace ledger::codec {

// Encodes an admission event; nullopt for any other event type.
std::optional<nlohmann::json> encode_admission(const events::Event& e);
// Decodes (type, version) if it is an admission event type; nullopt if the
// type is not one of them.
std::optional<std::expected<events::Event, std::string>> decode_admission(std::string_view type, int version,
                                                                          const nlohmann::json& payload);

}  // namespace ledger::codec

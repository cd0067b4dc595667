// Versioned JSON codecs for events, the canonical form and the hash chain.
//
// Writing:  RecordedEvent r = codec::record(meta, event, prev_hash);
//           // r.payload is canonical JSON, r.hash seals r and prev_hash.
// Reading:  auto env = codec::decode(r);   // upcasts old schema versions
// Checking: codec::compute_hash(r) == r.hash
//
// The canonical form of a recorded event is the JSON object of every envelope
// field except `hash`, keys sorted bytewise, no insignificant whitespace,
// integers as integers, instants as RFC 3339 UTC with six fractional digits,
// numbers as PostgreSQL's jsonb gives them back (an integral double from 1e15
// up as an integer, -0.0 as 0.0: canonical_payload).
// It depends on field values only, never on the order keys arrived in.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "events/event.h"

namespace ledger::codec {

using Json = nlohmann::json;

const char* value_type_name(events::ValueType t);
std::optional<events::ValueType> parse_value_type(std::string_view name);
const char* scope_level_name(events::ScopeLevel l);
std::optional<events::ScopeLevel> parse_scope_level(std::string_view name);
const char* before_source_name(events::BeforeSource s);
std::optional<events::BeforeSource> parse_before_source(std::string_view name);

const char* write_audience_name(events::WriteAudience a);
std::optional<events::WriteAudience> parse_write_audience(std::string_view name);
// The audience a key's name implies: platform for the prefixes in
// kPlatformKeyPrefixes (rate limits, authentication, quota decisions: the
// keys that govern the ledger itself), tenant for every other key. Applied to
// PolicyKeyDefined v1 on upcast and to a definition that names none.
inline constexpr std::string_view kPlatformKeyPrefixes[] = {"rate_limit.", "auth.", "quota."};
events::WriteAudience implied_write_audience(std::string_view key);

Json encode_value(const events::PolicyValue& v);
// A JSON bool, integer (64-bit signed) or string; anything else is nullopt.
std::optional<events::PolicyValue> decode_value(const Json& j);

// Always writes the CURRENT schema version (events::schema_version(e)).
Json encode_payload(const events::Event& e);
// Decodes a payload of any known (type, version) and upcasts it to the
// current version (PolicyValueSet v1 -> v2, PolicyKeyDefined v1 -> v2, see
// events/policy_events.h).
// Unknown types or versions and malformed payloads are errors (the message
// says which field).
std::expected<events::Event, std::string> decode_payload(std::string_view type, int version, const Json& payload);

// Seals `event` into the chain after `prev_hash`.
events::RecordedEvent record(events::EventMeta meta, const events::Event& event, std::string prev_hash);
std::expected<events::Envelope, std::string> decode(const events::RecordedEvent& r);

// Re-serialises any JSON payload canonically (used when a payload comes back
// from a store that reformats JSON, e.g. PostgreSQL jsonb).
std::string canonical_payload(const Json& payload);
std::string canonical_form(const events::RecordedEvent& r);
std::string compute_hash(const events::RecordedEvent& r);
std::string sha256_hex(std::string_view data);
// Appends `s` as a JSON string exactly as nlohmann's dump(-1, ' ', false,
// error_handler_t::replace) writes it (escapes, invalid UTF-8 replaced):
// for writers that build JSON text without a tree.
void append_json_string(std::string& out, std::string_view s);

// The envelope as one JSON object (what goes on Kafka and into exports).
Json to_json(const events::RecordedEvent& r);
std::string to_json_text(const events::RecordedEvent& r);
std::expected<events::RecordedEvent, std::string> recorded_from_json(const Json& j);
std::expected<events::RecordedEvent, std::string> recorded_from_text(std::string_view text);

}  // namespace ledger::codec

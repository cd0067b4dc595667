// Validation of configuration documents by JSON Schema (draft 7, Debian's
// valijson), before any event is written: the seed's
// Tenant.notification_config (webhook in its single- and multi-endpoint
// forms with the bearer, basic and api_key auth types, email, chat,
// approver_groups, escalation) and the shape of its DEFAULT_RISK_CONFIG
// (global_settings, service_overrides) and risk scalars, wherever such a
// key appears in a layer document (a shallow merge may bring any of them
// from any layer). Other keys are free-form.
// Pure (valijson is a header-only validator; its headers stay in schema.cc).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ledger::domain::config {

struct SchemaViolation {
  std::string path;     // JSON pointer of the failing value, e.g. /notification_config/webhook/auth
  std::string message;  // what the schema says
};

// nullopt when `doc` (a layer document, an object) is valid.
std::optional<SchemaViolation> validate_document(const nlohmann::json& doc);

// valijson's error context (["<root>", "[notification_config]", "[0]"]) as
// a JSON pointer ("/notification_config/0"); "/" for the root.
std::string context_pointer(const std::vector<std::string>& context);

// The member names whose strings validate_document refuses past 2,048
// characters before any pattern runs (libstdc++'s std::regex recurses per
// character): every property the schema gives a `pattern`. Throws
// std::logic_error when a pattern stands anywhere else (array items,
// additionalProperties, patternProperties, a definition reached by $ref),
// where no member name would bound its strings.
std::set<std::string, std::less<>> patterned_members(std::string_view schema_text);

// The schema text itself (served for clients, and read by tests).
std::string_view config_schema_text();

}  // namespace ledger::domain::config

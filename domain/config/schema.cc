#include "domain/config/schema.h"

#include <set>
#include <stdexcept>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "domain/text.h"

namespace ledger::domain::config {

namespace {

// The seed's notification_config schema and DEFAULT_RISK_CONFIG shape.
constexpr std::string_view kSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "definitions": {
    "recipients": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "auth": {
      "type": "object",
      "required": ["type"],
      "properties": {
        "type": {"enum": ["bearer", "basic", "api_key"]},
        "token": {"type": "string", "minLength": 1},
        "username": {"type": "string", "minLength": 1},
        "password": {"type": "string", "minLength": 1},
        "api_key": {"type": "string", "minLength": 1},
        "header_name": {"type": "string", "minLength": 1}
      },
      "additionalProperties": false,
      "allOf": [
        {"if": {"properties": {"type": {"const": "bearer"}}}, "then": {"required": ["token"]}},
        {"if": {"properties": {"type": {"const": "basic"}}}, "then": {"required": ["username", "password"]}},
        {"if": {"properties": {"type": {"const": "api_key"}}}, "then": {"required": ["api_key"]}}
      ]
    },
    "backoff": {
      "type": "object",
      "properties": {
        "initial_seconds": {"type": "number", "minimum": 0},
        "factor": {"type": "number", "minimum": 1},
        "max_seconds": {"type": "number", "minimum": 0}
      },
      "additionalProperties": false
    },
    "endpoint": {
      "type": "object",
      "required": ["url"],
      "properties": {
        "url": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "auth": {"$ref": "#/definitions/auth"},
        "secret": {"type": "string", "minLength": 1},
        "timeout_seconds": {"type": "integer", "minimum": 1},
        "retry_attempts": {"type": "integer", "minimum": 0},
        "backoff": {"$ref": "#/definitions/backoff"}
      },
      "additionalProperties": false
    },
    "webhook": {
      "type": "object",
      "properties": {
        "url": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "auth": {"$ref": "#/definitions/auth"},
        "secret": {"type": "string", "minLength": 1},
        "timeout_seconds": {"type": "integer", "minimum": 1},
        "retry_attempts": {"type": "integer", "minimum": 0},
        "backoff": {"$ref": "#/definitions/backoff"},
        "endpoints": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/endpoint"}}
      },
      "additionalProperties": false,
      "oneOf": [{"required": ["url"]}, {"required": ["endpoints"]}]
    },
    "notification_config": {
      "type": "object",
      "properties": {
        "webhook": {"$ref": "#/definitions/webhook"},
        "email": {
          "type": "object",
          "properties": {
            "approval_recipients": {"$ref": "#/definitions/recipients"},
            "default_recipients": {"$ref": "#/definitions/recipients"},
            "from_email": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$", "maxLength": 2048},
            "template_overrides": {"type": "object", "additionalProperties": {"type": "object"}}
          },
          "additionalProperties": false
        },
        "chat": {
          "type": "object",
          "properties": {
            "google_chat": {
              "type": "object",
              "required": ["webhook_url"],
              "properties": {
                "webhook_url": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
                "spaces": {"type": "array", "items": {"type": "string"}},
                "include_links": {"type": "boolean"}
              },
              "additionalProperties": false
            }
          },
          "additionalProperties": false
        },
        "approver_groups": {
          "type": "object",
          "properties": {
            "risk_levels": {
              "type": "object",
              "properties": {
                "low": {"$ref": "#/definitions/recipients"},
                "medium": {"$ref": "#/definitions/recipients"},
                "high": {"$ref": "#/definitions/recipients"},
                "critical": {"$ref": "#/definitions/recipients"}
              },
              "additionalProperties": false
            },
            "action_overrides": {"type": "object", "additionalProperties": {"$ref": "#/definitions/recipients"}}
          },
          "additionalProperties": false
        },
        "escalation": {
          "type": "object",
          "properties": {
            "poll_interval_seconds": {"type": "integer", "minimum": 1},
            "escalation_window_minutes": {"type": "integer", "minimum": 1},
            "max_hops": {"type": "integer", "minimum": 0}
          },
          "additionalProperties": false
        }
      },
      "additionalProperties": false
    },
    "global_settings": {
      "type": "object",
      "properties": {
        "max_cost_impact_auto": {"type": "number", "minimum": 0},
        "max_cost_impact_approval": {"type": "number", "minimum": 0},
        "max_resource_scaling": {"type": "number", "minimum": 0},
        "approval_timeout_minutes": {"type": "integer", "minimum": 1},
        "require_approval_for_high_risk": {"type": "boolean"},
        "auto_approve_rollbacks": {"type": "boolean"},
        "automation_enabled": {"type": "boolean"},
        "business_hours_only": {"type": "boolean"},
        "max_concurrent_automations": {"type": "integer", "minimum": 0}
      },
      "additionalProperties": false
    }
  },
  "type": "object",
  "properties": {
    "notification_config": {"$ref": "#/definitions/notification_config"},
    "global_settings": {"$ref": "#/definitions/global_settings"},
    "service_overrides": {
      "type": "object",
      "properties": {
        "cloud_run": {"type": "object"}, "gke": {"type": "object"},
        "bigquery": {"type": "object"}, "cloud_sql": {"type": "object"}
      }
    },
    "max_cost_impact_auto": {"type": "number", "minimum": 0},
    "max_cost_impact_approval": {"type": "number", "minimum": 0},
    "max_resource_scaling": {"type": "number", "minimum": 0},
    "approval_timeout_minutes": {"type": "integer", "minimum": 1},
    "automation_enabled": {"type": "boolean"},
    "business_hours_only": {"type": "boolean"},
    "max_concurrent_automations": {"type": "integer", "minimum": 0}
  }
})json";

// Adds `name` when `schema` (the schema of the property so named) gives a
// pattern, and looks inside it. Property schemas stand in `properties`; any
// other member holds keywords or schemas that no member name leads to.
void collect_patterned(const nlohmann::json& schema, std::string_view name, const nlohmann::json::json_pointer& at,
                       std::set<std::string, std::less<>>& out) {
  if (schema.is_array()) {
    for (std::size_t i = 0; i < schema.size(); ++i) collect_patterned(schema[i], {}, at / i, out);
    return;
  }
  if (!schema.is_object()) return;
  if (const auto p = schema.find("pattern"); p != schema.end() && p->is_string()) {
    // The guard below bounds strings by the member that holds them, so a
    // pattern on array items, on additionalProperties or patternProperties,
    // or in a definition reached by $ref would leave its strings unbounded.
    if (name.empty()) {
      throw std::logic_error("config schema: the pattern at " + at.to_string() +
                             " is not on a named property, so its strings would reach std::regex unbounded");
    }
    out.emplace(name);
  }
  for (auto it = schema.begin(); it != schema.end(); ++it) {
    if (it.key() == "properties" && it->is_object()) {
      for (auto prop = it->begin(); prop != it->end(); ++prop) {
        collect_patterned(*prop, prop.key(), at / "properties" / prop.key(), out);
      }
    } else {
      collect_patterned(*it, {}, at / it.key(), out);
    }
  }
}

std::set<std::string, std::less<>> patterned_of(const nlohmann::json& schema) {
  std::set<std::string, std::less<>> out;
  collect_patterned(schema, {}, nlohmann::json::json_pointer(), out);
  return out;
}

}  // namespace

std::set<std::string, std::less<>> patterned_members(std::string_view schema_text) {
  return patterned_of(nlohmann::json::parse(schema_text));
}

namespace {

struct Compiled {
  valijson::Schema schema;
  std::set<std::string, std::less<>> patterned;
  Compiled() {
    const nlohmann::json doc = nlohmann::json::parse(kSchema);
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(doc);
    parser.populateSchema(adapter, schema);
    patterned = patterned_of(doc);
  }
};

const Compiled& compiled() {
  static const Compiled c;  // thread-safe initialisation; read-only after
  return c;
}

// The schema's `pattern`s run in libstdc++'s std::regex, which recurses once
// per character a pattern repeats over: a from_email of 100,000 characters
// overflows a thread's stack and ends the process. So every string under a
// member name the schema gives a pattern (read from the schema itself) is
// refused past kMaxPatternedChars before valijson sees the document; the
// schema says the same limit (maxLength).
constexpr std::size_t kMaxPatternedChars = 2048;

using Pointer = nlohmann::json::json_pointer;

// The first patterned string too long for the pattern to be tried, by its
// JSON pointer. The document's depth is bounded by the body decoder.
std::optional<SchemaViolation> overlong_patterned(const nlohmann::json& v, const Pointer& at,
                                                  const std::set<std::string, std::less<>>& patterned) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      const Pointer path = at / it.key();
      if (it->is_string() && patterned.contains(it.key()) &&
          code_points(it->get_ref<const std::string&>()) > kMaxPatternedChars) {
        return SchemaViolation{path.to_string(), "String should be no more than " + std::to_string(kMaxPatternedChars) +
                                                     " characters in length."};
      }
      if (auto bad = overlong_patterned(*it, path, patterned)) return bad;
    }
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (auto bad = overlong_patterned(v[i], at / i, patterned)) return bad;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<SchemaViolation> validate_document(const nlohmann::json& doc) {
  const Compiled& c = compiled();
  if (auto bad = overlong_patterned(doc, Pointer{}, c.patterned)) return bad;
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(doc);
  if (validator.validate(c.schema, target, &results)) return std::nullopt;
  // The deepest failure names the value at fault (the outer ones only say
  // that something inside them failed).
  std::optional<SchemaViolation> best;
  std::size_t depth = 0;
  valijson::ValidationResults::Error err;
  while (results.popError(err)) {
    if (!best || err.context.size() > depth) {
      depth = err.context.size();
      best = SchemaViolation{context_pointer(err.context), err.description};
    }
  }
  if (!best) best = SchemaViolation{"/", "the document does not match the configuration schema"};
  return best;
}

std::string_view config_schema_text() { return kSchema; }

std::string context_pointer(const std::vector<std::string>& context) {
  std::string out;
  for (const auto& c : context) {
    if (c == "<root>") continue;
    std::string part = c;
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') part = part.substr(1, part.size() - 2);
    if (part.size() >= 2 && part.front() == '"' && part.back() == '"') part = part.substr(1, part.size() - 2);
    out += "/" + part;
  }
  return out.empty() ? "/" : out;
}

}  // namespace ledger::domain::config

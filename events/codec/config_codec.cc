#include "events/codec/config_codec.h"

#include <nlohmann/json.hpp>
#include <set>

namespace ledger::codec {
namespace {

using Json = nlohmann::json;
using events::ConfigLayerSet;

constexpr const char* kFields[] = {"layer", "tenant_id", "subject",          "before",
                                   "after", "is_public", "requires_restart", "reason"};

Json parse_doc(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json(nullptr) : j;
}

}  // namespace

std::optional<Json> encode_config(const events::Event& e) {
  if (const auto* r = std::get_if<events::ConfigReloaded>(&e)) {
    return Json{{"reload_env", r->reload_env},
                {"invalidate_all", r->invalidate_all},
                {"tenant_ids", r->tenant_ids},
                {"reinit", r->reinit},
                {"errors", r->errors}};
  }
  if (const auto* x = std::get_if<events::ConfigSecretsShredded>(&e)) {
    return Json{{"tenant_id", x->tenant_id}, {"key_ids", x->key_ids}, {"reason", x->reason}};
  }
  const auto* c = std::get_if<ConfigLayerSet>(&e);
  if (!c) return std::nullopt;
  return Json{{"layer", c->layer},
              {"tenant_id", c->tenant_id},
              {"subject", c->subject},
              {"before", parse_doc(c->before)},
              {"after", parse_doc(c->after)},
              {"is_public", c->is_public},
              {"requires_restart", c->requires_restart},
              {"reason", c->reason}};
}

std::optional<std::expected<events::Event, std::string>> decode_config(std::string_view type, int version,
                                                                       const Json& payload) {
  if (type == events::ConfigReloaded::kType) {
    if (version != events::ConfigReloaded::kSchemaVersion) {
      return std::unexpected("unknown schema version " + std::to_string(version) + " of " + std::string(type));
    }
    events::ConfigReloaded r;
    const char* fields[] = {"reload_env", "invalidate_all", "tenant_ids", "reinit", "errors"};
    for (const auto& [k, _] : payload.items()) {
      if (std::find(std::begin(fields), std::end(fields), k) == std::end(fields)) {
        return std::unexpected("ConfigReloaded: unknown field '" + k + "'");
      }
    }
    for (const char* f : fields) {
      if (!payload.contains(f)) return std::unexpected(std::string("ConfigReloaded: missing field '") + f + "'");
    }
    if (!payload["reload_env"].is_boolean() || !payload["invalidate_all"].is_boolean()) {
      return std::unexpected("ConfigReloaded: reload_env and invalidate_all must be booleans");
    }
    r.reload_env = payload["reload_env"].get<bool>();
    r.invalidate_all = payload["invalidate_all"].get<bool>();
    for (auto [name, out] :
         {std::pair{"tenant_ids", &r.tenant_ids}, std::pair{"reinit", &r.reinit}, std::pair{"errors", &r.errors}}) {
      if (!payload[name].is_array())
        return std::unexpected(std::string("ConfigReloaded: field '") + name + "' must be an array");
      for (const auto& x : payload[name]) {
        if (!x.is_string())
          return std::unexpected(std::string("ConfigReloaded: field '") + name + "' must hold strings");
        out->push_back(x.get<std::string>());
      }
    }
    return events::Event(std::move(r));
  }
  if (type == events::ConfigSecretsShredded::kType) {
    const std::string prefix = "ConfigSecretsShredded: ";
    if (version != events::ConfigSecretsShredded::kSchemaVersion) {
      return std::unexpected("unknown schema version " + std::to_string(version) + " of " + std::string(type));
    }
    for (const auto& [k, _] : payload.items()) {
      if (k != "tenant_id" && k != "key_ids" && k != "reason")
        return std::unexpected(prefix + "unknown field '" + k + "'");
    }
    if (!payload.contains("tenant_id") || !payload["tenant_id"].is_string() || !payload.contains("reason") ||
        !payload["reason"].is_string() || !payload.contains("key_ids") || !payload["key_ids"].is_array()) {
      return std::unexpected(prefix + "tenant_id and reason must be strings, key_ids an array");
    }
    events::ConfigSecretsShredded x;
    x.tenant_id = payload["tenant_id"].get<std::string>();
    x.reason = payload["reason"].get<std::string>();
    for (const auto& k : payload["key_ids"]) {
      if (!k.is_string()) return std::unexpected(prefix + "key_ids must hold strings");
      x.key_ids.push_back(k.get<std::string>());
    }
    return events::Event(std::move(x));
  }
  if (type != ConfigLayerSet::kType) return std::nullopt;
  if (version != ConfigLayerSet::kSchemaVersion) {
    return std::unexpected("unknown schema version " + std::to_string(version) + " of " + std::string(type));
  }
  const std::string prefix = std::string(type) + ": ";
  for (const auto& [k, _] : payload.items()) {
    if (std::find(std::begin(kFields), std::end(kFields), k) == std::end(kFields)) {
      return std::unexpected(prefix + "unknown field '" + k + "'");
    }
  }
  for (const char* f : kFields) {
    if (!payload.contains(f)) return std::unexpected(prefix + "missing field '" + f + "'");
  }
  ConfigLayerSet e;
  auto str = [&](const char* n, std::string& out) {
    if (!payload[n].is_string()) return false;
    out = payload[n].get<std::string>();
    return true;
  };
  if (!str("layer", e.layer)) return std::unexpected(prefix + "field 'layer' must be a string");
  if (!str("tenant_id", e.tenant_id)) return std::unexpected(prefix + "field 'tenant_id' must be a string");
  if (!str("subject", e.subject)) return std::unexpected(prefix + "field 'subject' must be a string");
  if (!str("reason", e.reason)) return std::unexpected(prefix + "field 'reason' must be a string");
  if (!payload["is_public"].is_boolean()) return std::unexpected(prefix + "field 'is_public' must be a boolean");
  if (!payload["requires_restart"].is_boolean()) {
    return std::unexpected(prefix + "field 'requires_restart' must be a boolean");
  }
  e.is_public = payload["is_public"].get<bool>();
  e.requires_restart = payload["requires_restart"].get<bool>();
  e.before = payload["before"].dump();
  e.after = payload["after"].dump();
  return events::Event(std::move(e));
}

}  // namespace ledger::codec

#include "events/codec/entitlement_codec.h"

#include <nlohmann/json.hpp>
#include <set>

namespace ledger::codec {
namespace {

using Json = nlohmann::json;

struct Writer {
  Json out = Json::object();
  void field(const char* n, const std::string& v) { out[n] = v; }
  void field(const char* n, const std::int64_t& v) { out[n] = v; }
  void field(const char* n, const bool& v) { out[n] = v; }
  void field(const char* n, const std::vector<std::string>& v) { out[n] = Json(v); }
  // Fields added to a version after it shipped: written only when set, so
  // an event without them encodes exactly as before.
  void optional(const char* n, const std::int64_t& v) {
    if (v != 0) out[n] = v;
  }
  void optional_object(const char* n, const std::string& v) {
    if (!v.empty()) out[n] = Json::parse(v);
  }
};

struct Reader {
  const Json& in;
  std::string error;
  std::set<std::string> seen;

  const Json* get(const char* n) {
    if (!error.empty()) return nullptr;
    seen.insert(n);
    auto it = in.find(n);
    if (it == in.end()) {
      error = std::string("missing field '") + n + "'";
      return nullptr;
    }
    return &*it;
  }
  void bad(const char* n, const char* what) { error = std::string("field '") + n + "' must be " + what; }
  void field(const char* n, std::string& v) {
    if (const Json* j = get(n)) j->is_string() ? void(v = j->get<std::string>()) : bad(n, "a string");
  }
  void field(const char* n, std::int64_t& v) {
    const Json* j = get(n);
    if (!j) return;
    if (!j->is_number_integer() || (j->is_number_unsigned() && j->get<std::uint64_t>() > std::uint64_t(INT64_MAX))) {
      return bad(n, "a 64-bit integer");
    }
    v = j->get<std::int64_t>();
  }
  void field(const char* n, bool& v) {
    if (const Json* j = get(n)) j->is_boolean() ? void(v = j->get<bool>()) : bad(n, "a boolean");
  }
  void field(const char* n, std::vector<std::string>& v) {
    const Json* j = get(n);
    if (!j) return;
    if (!j->is_array()) return bad(n, "an array of strings");
    for (const auto& x : *j) {
      if (!x.is_string()) return bad(n, "an array of strings");
      v.push_back(x.get<std::string>());
    }
  }
  void optional(const char* n, std::int64_t& v) {
    seen.insert(n);
    if (in.contains(n)) field(n, v);
  }
  void optional_object(const char* n, std::string& v) {
    seen.insert(n);
    auto it = in.find(n);
    if (it == in.end() || !error.empty()) return;
    if (!it->is_object()) return bad(n, "an object");
    v = it->dump();
  }
  void finish() {
    if (!error.empty()) return;
    for (const auto& [k, _] : in.items()) {
      if (!seen.contains(k)) {
        error = "unknown field '" + k + "'";
        return;
      }
    }
  }
};

#define LEDGER_FIELDS(Type, ...)                                  \
  template <class V, class E>                                     \
    requires std::is_same_v<std::remove_const_t<E>, events::Type> \
  void list(V& v, E& e) {                                         \
    __VA_ARGS__;                                                  \
  }

LEDGER_FIELDS(CapabilityDefined, v.field("tenant", e.tenant), v.field("capability_id", e.capability_id),
              v.field("name", e.name), v.field("description", e.description))
LEDGER_FIELDS(CapabilityDeprecated, v.field("tenant", e.tenant), v.field("capability_id", e.capability_id),
              v.field("name", e.name), v.field("reason", e.reason))
LEDGER_FIELDS(CapabilityRetired, v.field("tenant", e.tenant), v.field("capability_id", e.capability_id),
              v.field("name", e.name), v.field("reason", e.reason))
LEDGER_FIELDS(PlanDefined, v.field("tenant", e.tenant), v.field("plan_id", e.plan_id),
              v.field("display_name", e.display_name), v.field("description", e.description))
LEDGER_FIELDS(PlanUpdated, v.field("tenant", e.tenant), v.field("plan_id", e.plan_id),
              v.field("before_display_name", e.before_display_name), v.field("display_name", e.display_name),
              v.field("before_description", e.before_description), v.field("description", e.description))
LEDGER_FIELDS(PlanArchived, v.field("tenant", e.tenant), v.field("plan_id", e.plan_id), v.field("reason", e.reason))
LEDGER_FIELDS(EntitlementPolicyCreated, v.field("tenant", e.tenant), v.field("policy_id", e.policy_id),
              v.field("capability_id", e.capability_id), v.field("name", e.name), v.field("description", e.description))
LEDGER_FIELDS(PolicyVersionCreated, v.field("tenant", e.tenant), v.field("policy_id", e.policy_id),
              v.field("version_id", e.version_id), v.field("version", e.version), v.field("rules_type", e.rules_type),
              v.field("allowed_plans", e.allowed_plans), v.field("deny_overrides", e.deny_overrides),
              v.field("changelog", e.changelog), v.field("created_by", e.created_by))
LEDGER_FIELDS(PolicyVersionActivated, v.field("tenant", e.tenant), v.field("policy_id", e.policy_id),
              v.field("version_id", e.version_id), v.field("version", e.version), v.field("environment", e.environment),
              v.field("activation_id", e.activation_id), v.field("superseded_version_id", e.superseded_version_id),
              v.field("superseded_version", e.superseded_version), v.field("changelog", e.changelog),
              v.field("activated_by", e.activated_by), v.optional_object("shadow", e.shadow))
LEDGER_FIELDS(PolicyVersionArchived, v.field("tenant", e.tenant), v.field("policy_id", e.policy_id),
              v.field("version_id", e.version_id), v.field("version", e.version), v.field("reason", e.reason))
LEDGER_FIELDS(EntitlementSettingsChanged, v.field("tenant", e.tenant),
              v.field("before_require_progression", e.before_require_progression),
              v.field("require_progression", e.require_progression),
              v.optional("before_shadow_max_age_seconds", e.before_shadow_max_age_seconds),
              v.optional("shadow_max_age_seconds", e.shadow_max_age_seconds))
#undef LEDGER_FIELDS

template <class T>
concept Entitlement = events::kIsEntitlementEvent<T>;

template <class T>
std::optional<std::expected<events::Event, std::string>> try_decode(std::string_view type, int version,
                                                                    const Json& payload) {
  if (type != T::kType) return std::nullopt;
  if (version != T::kSchemaVersion) {
    return std::unexpected("unknown schema version " + std::to_string(version) + " of " + std::string(type));
  }
  Reader r{payload, {}, {}};
  T e;
  list(r, e);
  r.finish();
  if (!r.error.empty()) return std::unexpected(std::string(type) + ": " + r.error);
  return events::Event(std::move(e));
}

template <class... Ts>
std::optional<std::expected<events::Event, std::string>> decode_any(std::variant<Ts...>*, std::string_view type,
                                                                    int version, const Json& payload) {
  std::optional<std::expected<events::Event, std::string>> out;
  auto one = [&]<class T>() {
    if constexpr (Entitlement<T>) {
      if (!out) out = try_decode<T>(type, version, payload);
    }
  };
  (one.template operator()<Ts>(), ...);
  return out;
}

}  // namespace

std::optional<Json> encode_entitlement(const events::Event& e) {
  return std::visit(
      [](const auto& x) -> std::optional<Json> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (Entitlement<T>) {
          Writer w;
          list(w, x);
          return std::move(w.out);
        } else {
          return std::nullopt;
        }
      },
      e);
}

std::optional<std::expected<events::Event, std::string>> decode_entitlement(std::string_view type, int version,
                                                                            const Json& payload) {
  return decode_any(static_cast<events::Event*>(nullptr), type, version, payload);
}

}  // namespace ledger::codec

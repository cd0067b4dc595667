#include "events/codec/admission_codec.h"

#include <nlohmann/json.hpp>
#include <set>

#include "events/codec/rfc3339.h"

namespace ledger::codec {
namespace {

using Json = nlohmann::json;

// Writes every listed field into a JSON object.
struct Writer {
  Json out = Json::object();
  void field(const char* n, const std::string& v) { out[n] = v; }
  void field(const char* n, const std::int64_t& v) { out[n] = v; }
  void field(const char* n, const bool& v) { out[n] = v; }
  void field(const char* n, const events::JsonText& v) { out[n] = Json::parse(v.text); }
  void field(const char* n, const std::optional<std::int64_t>& v) { out[n] = v ? Json(*v) : Json(nullptr); }
  void field(const char* n, const events::Instant& v) { out[n] = format_instant(v); }
  void field(const char* n, const std::optional<events::Instant>& v) {
    out[n] = v ? Json(format_instant(*v)) : Json(nullptr);
  }
  void field(const char* n, const std::map<std::string, std::string>& v) { out[n] = Json(v); }
  void field(const char* n, const std::vector<std::string>& v) { out[n] = Json(v); }
  void field(const char* n, const std::optional<std::map<std::string, std::string>>& v) {
    out[n] = v ? Json(*v) : Json(nullptr);
  }
  void field(const char* n, const events::QuotaScope& v) {
    out[n] = {{"level", events::quota_level_name(v.level)}, {"id", v.id}};
  }
  void field(const char* n, const events::CeilingTarget& v) {
    out[n] = {{"dimension", v.dimension}, {"window", v.window}, {"region", v.region}, {"sku_or_model", v.sku_or_model}};
  }
};

// Reads every listed field from a JSON object, strictly.
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
  void field(const char* n, events::JsonText& v) {
    const Json* j = get(n);
    if (!j) return;
    if (!j->is_object()) return bad(n, "an object");
    v.text = j->dump();
  }
  void field(const char* n, std::optional<std::int64_t>& v) {
    const Json* j = get(n);
    if (!j || j->is_null()) return;
    std::int64_t x = 0;
    field(n, x);
    v = x;
  }
  void field(const char* n, events::Instant& v) {
    std::string s;
    field(n, s);
    if (!error.empty()) return;
    auto t = parse_instant(s);
    if (!t) return bad(n, "an RFC 3339 instant");
    v = *t;
  }
  void field(const char* n, std::optional<events::Instant>& v) {
    const Json* j = get(n);
    if (!j || j->is_null()) return;
    events::Instant t;
    field(n, t);
    v = t;
  }
  void field(const char* n, std::map<std::string, std::string>& v) {
    const Json* j = get(n);
    if (!j) return;
    if (!j->is_object()) return bad(n, "an object of strings");
    for (const auto& [k, x] : j->items()) {
      if (!x.is_string()) return bad(n, "an object of strings");
      v[k] = x.get<std::string>();
    }
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
  void field(const char* n, std::optional<std::map<std::string, std::string>>& v) {
    const Json* j = get(n);
    if (!j || j->is_null()) return;
    std::map<std::string, std::string> m;
    field(n, m);
    v = std::move(m);
  }
  void field(const char* n, events::QuotaScope& v) {
    const Json* j = get(n);
    if (!j) return;
    if (!j->is_object() || j->size() != 2 || !j->contains("level") || !j->contains("id") ||
        !(*j)["level"].is_string() || !(*j)["id"].is_string()) {
      return bad(n, "{level, id}");
    }
    auto l = events::parse_quota_level((*j)["level"].get<std::string>());
    if (!l) return bad(n, "a scope with a known level");
    v = {*l, (*j)["id"].get<std::string>()};
  }
  void field(const char* n, events::CeilingTarget& v) {
    const Json* j = get(n);
    if (!j) return;
    Reader r{*j, {}, {}};
    if (!j->is_object()) return bad(n, "{dimension, window, region, sku_or_model}");
    r.field("dimension", v.dimension);
    r.field("window", v.window);
    r.field("region", v.region);
    r.field("sku_or_model", v.sku_or_model);
    r.finish();
    if (!r.error.empty()) error = std::string("field '") + n + "': " + r.error;
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

// The same list for reading and writing: `E` is const for the Writer.
#define LEDGER_FIELDS(Type, ...)                                  \
  template <class V, class E>                                     \
    requires std::is_same_v<std::remove_const_t<E>, events::Type> \
  void list(V& v, E& e) {                                         \
    __VA_ARGS__;                                                  \
  }

LEDGER_FIELDS(RegistryEntryRegistered, v.field("kind", e.kind), v.field("entry_id", e.entry_id),
              v.field("version", e.version), v.field("description", e.description), v.field("attributes", e.attributes),
              v.field("before", e.before))
LEDGER_FIELDS(OrganizationCreated, v.field("organization_id", e.organization_id), v.field("name", e.name),
              v.field("plan_id", e.plan_id), v.field("default_department_id", e.default_department_id))
LEDGER_FIELDS(OrganizationPlanChanged, v.field("organization_id", e.organization_id),
              v.field("before_plan_id", e.before_plan_id), v.field("plan_id", e.plan_id))
LEDGER_FIELDS(DepartmentCreated, v.field("department_id", e.department_id),
              v.field("organization_id", e.organization_id), v.field("parent_department_id", e.parent_department_id),
              v.field("name", e.name))
LEDGER_FIELDS(DepartmentMoved, v.field("department_id", e.department_id), v.field("organization_id", e.organization_id),
              v.field("before_parent_department_id", e.before_parent_department_id),
              v.field("parent_department_id", e.parent_department_id))
LEDGER_FIELDS(ProjectCreated, v.field("project_id", e.project_id), v.field("organization_id", e.organization_id),
              v.field("department_id", e.department_id), v.field("name", e.name))
LEDGER_FIELDS(ProjectMoved, v.field("project_id", e.project_id), v.field("organization_id", e.organization_id),
              v.field("before_department_id", e.before_department_id), v.field("department_id", e.department_id))
LEDGER_FIELDS(PrincipalCreated, v.field("principal_id", e.principal_id), v.field("principal_type", e.principal_type),
              v.field("organization_id", e.organization_id), v.field("project_id", e.project_id),
              v.field("name", e.name), v.field("expires_at", e.expires_at))
LEDGER_FIELDS(CeilingSet, v.field("scope", e.scope), v.field("organization_id", e.organization_id),
              v.field("rule_id", e.rule_id), v.field("rule_version", e.rule_version), v.field("target", e.target),
              v.field("quantity", e.quantity), v.field("unit", e.unit), v.field("before_quantity", e.before_quantity),
              v.field("reason", e.reason))
LEDGER_FIELDS(CeilingCleared, v.field("scope", e.scope), v.field("organization_id", e.organization_id),
              v.field("rule_id", e.rule_id), v.field("rule_version", e.rule_version), v.field("target", e.target),
              v.field("before_quantity", e.before_quantity), v.field("unit", e.unit), v.field("reason", e.reason))
LEDGER_FIELDS(CeilingDelegated, v.field("scope", e.scope), v.field("organization_id", e.organization_id),
              v.field("delegation_id", e.delegation_id), v.field("dimension", e.dimension),
              v.field("max_quantity", e.max_quantity), v.field("reason", e.reason))
LEDGER_FIELDS(CeilingDelegationRevoked, v.field("scope", e.scope), v.field("organization_id", e.organization_id),
              v.field("delegation_id", e.delegation_id), v.field("dimension", e.dimension), v.field("reason", e.reason))
LEDGER_FIELDS(ReservationDrafted, v.field("reservation_id", e.reservation_id),
              v.field("organization_id", e.organization_id), v.field("owner", e.owner), v.field("kind", e.kind),
              v.field("dimension", e.dimension), v.field("region", e.region), v.field("sku_or_model", e.sku_or_model),
              v.field("quantity", e.quantity), v.field("unit", e.unit), v.field("window_start", e.window_start),
              v.field("window_end", e.window_end), v.field("attributes", e.attributes), v.field("reason", e.reason))
LEDGER_FIELDS(ReservationStateChanged, v.field("reservation_id", e.reservation_id),
              v.field("organization_id", e.organization_id), v.field("before_state", e.before_state),
              v.field("state", e.state), v.field("reason", e.reason))
LEDGER_FIELDS(ReservationConsumed, v.field("reservation_id", e.reservation_id),
              v.field("organization_id", e.organization_id), v.field("quantity", e.quantity),
              v.field("before_consumed", e.before_consumed), v.field("consumed", e.consumed),
              v.field("reason", e.reason))
LEDGER_FIELDS(ReservationReleased, v.field("reservation_id", e.reservation_id),
              v.field("organization_id", e.organization_id), v.field("quantity", e.quantity),
              v.field("before_consumed", e.before_consumed), v.field("consumed", e.consumed),
              v.field("reason", e.reason))
// Access control (events/access_events.h) shares this codec: same strictness,
// one field list.
LEDGER_FIELDS(AccessRefused, v.field("actor_type", e.actor_type), v.field("actor_id", e.actor_id),
              v.field("actor_roles", e.actor_roles), v.field("principal_tenant", e.principal_tenant),
              v.field("target_tenant", e.target_tenant), v.field("route_family", e.route_family),
              v.field("method", e.method), v.field("target", e.target), v.field("reason", e.reason))
// The writer's anchors (events/chain_events.h): same strictness.
LEDGER_FIELDS(ChainHeadSigned, v.field("position", e.position), v.field("head_hash", e.head_hash),
              v.field("key_id", e.key_id), v.field("algorithm", e.algorithm), v.field("signature", e.signature))
LEDGER_FIELDS(TokenRevoked, v.field("tenant", e.tenant), v.field("principal_id", e.principal_id),
              v.field("token_id", e.token_id), v.field("reason", e.reason))
// Per-application policy chains (events/app_policy_events.h): same strictness.
LEDGER_FIELDS(ApplicationRegistered, v.field("application_id", e.application_id),
              v.field("organization_id", e.organization_id), v.field("name", e.name))
LEDGER_FIELDS(ApplicationRenamed, v.field("application_id", e.application_id),
              v.field("organization_id", e.organization_id), v.field("before_name", e.before_name),
              v.field("name", e.name))
LEDGER_FIELDS(ApplicationRetired, v.field("application_id", e.application_id),
              v.field("organization_id", e.organization_id), v.field("reason", e.reason))
LEDGER_FIELDS(PolicyAttached, v.field("policy_id", e.policy_id), v.field("application_id", e.application_id),
              v.field("organization_id", e.organization_id), v.field("policy_type", e.policy_type),
              v.field("config", e.config), v.field("enabled", e.enabled), v.field("index", e.index),
              v.field("reason", e.reason))
LEDGER_FIELDS(PolicyUpdated, v.field("policy_id", e.policy_id), v.field("application_id", e.application_id),
              v.field("organization_id", e.organization_id), v.field("policy_type", e.policy_type),
              v.field("version", e.version), v.field("before_config", e.before_config), v.field("config", e.config),
              v.field("before_enabled", e.before_enabled), v.field("enabled", e.enabled),
              v.field("before_index", e.before_index), v.field("index", e.index), v.field("reason", e.reason))
LEDGER_FIELDS(PolicyDetached, v.field("policy_id", e.policy_id), v.field("application_id", e.application_id),
              v.field("organization_id", e.organization_id), v.field("policy_type", e.policy_type),
              v.field("before_config", e.before_config), v.field("before_enabled", e.before_enabled),
              v.field("reason", e.reason))
#undef LEDGER_FIELDS

template <class T>
concept Admission = requires(Writer& w, const T& e) { list(w, e); };

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
    if constexpr (Admission<T>) {
      if (!out) out = try_decode<T>(type, version, payload);
    }
  };
  (one.template operator()<Ts>(), ...);
  return out;
}

}  // namespace

std::optional<Json> encode_admission(const events::Event& e) {
  return std::visit(
      [](const auto& x) -> std::optional<Json> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (Admission<T>) {
          Writer w;
          list(w, x);
          return std::move(w.out);
        } else {
          return std::nullopt;
        }
      },
      e);
}

std::optional<std::expected<events::Event, std::string>> decode_admission(std::string_view type, int version,
                                                                          const Json& payload) {
  return decode_any(static_cast<events::Event*>(nullptr), type, version, payload);
}

}  // namespace ledger::codec

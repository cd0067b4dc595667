#include "domain/entitlements/entitlements.h"
#include "domain/text.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace ledger::domain::entitlements {

namespace {

// The figures of a verified shadow report, as PolicyVersionActivated keeps
// them (canonical: keys sorted, no spaces).
std::string shadow_figures_json(const ShadowEvidence& r) {
  const auto micros = r.generated_at.micros;
  return nlohmann::json{{"generated_at_micros", micros},
                        {"from", r.from},
                        {"to", r.to},
                        {"snapshot_version", r.snapshot_version},
                        {"considered", r.considered},
                        {"checked", r.checked},
                        {"allow_to_deny", r.allow_to_deny},
                        {"deny_to_allow", r.deny_to_allow},
                        {"signature", r.signature}}
      .dump();
}

std::unexpected<Error> refuse(ErrorKind kind, std::string code, std::string message,
                              std::vector<std::pair<std::string, EvidenceValue>> evidence = {}) {
  return std::unexpected(Error{kind, std::move(code), std::move(message), std::move(evidence)});
}

bool contains(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

Result<void> check_tenant(std::string_view tenant) {
  if (!valid_id(tenant)) {
    return refuse(ErrorKind::kInvalidArgument, "invalid_tenant", "tenant must be 1 to 128 of [A-Za-z0-9._:-]",
                  {{"field", "tenant"}});
  }
  return {};
}

Result<void> check_text(std::string_view value, const char* field, std::size_t max, bool required) {
  if ((required && value.empty()) || code_points(value) > max) {
    return refuse(ErrorKind::kInvalidArgument, required && value.empty() ? "missing_field" : "invalid_field",
                  std::string("field '") + field + "' must be 1 to " + std::to_string(max) + " characters",
                  {{"field", field}});
  }
  return {};
}

Result<void> check_rules(const Space* space, const Rules& r) {
  if (r.type != kPlanAllowlist) {
    return refuse(ErrorKind::kInvalidArgument, "invalid_rules", "rules.type must be plan-allowlist",
                  {{"field", "rules.type"}});
  }
  // The seed's decision: every plan a rule names exists at creation time.
  for (const auto* list : {&r.allowed_plans, &r.deny_overrides}) {
    for (const auto& p : *list) {
      if (!space || !space->plans.contains(p)) {
        return refuse(ErrorKind::kFailedPrecondition, "unknown_plan",
                      "the rules name a plan this tenant does not define", {{"plan_id", p}});
      }
    }
  }
  return {};
}

Result<const Policy*> find_policy(const EntitlementsModel& m, std::string_view tenant, std::string_view id) {
  const Policy* p = m.policy(tenant, id);
  if (!p) return refuse(ErrorKind::kNotFound, "unknown_policy", "no such policy", {{"policy_id", std::string(id)}});
  return p;
}

Decided one(std::string stream, events::Event e) {
  Decided d{std::move(stream), {}};
  d.events.push_back(std::move(e));
  return d;
}

}  // namespace

// ----------------------------------------------------------------- names

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '-';
  });
}

Result<void> check_capability_name(std::string_view name) {
  const bool chars = std::all_of(name.begin(), name.end(),
                                 [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
  if (name.size() < 3 || name.size() > 50 || !chars || name.front() == '-' || name.back() == '-') {
    return refuse(ErrorKind::kInvalidArgument, "invalid_capability_name",
                  "capability names are kebab-case: 3 to 50 lowercase letters, digits and hyphens, not starting or "
                  "ending with a hyphen",
                  {{"name", std::string(name.substr(0, 64))}});
  }
  return {};
}

Result<void> check_environment(std::string_view env) {
  for (auto e : kEnvironments) {
    if (e == env) return {};
  }
  return refuse(ErrorKind::kInvalidArgument, "invalid_environment", "environment must be dev, staging or production",
                {{"field", "environment"}});
}

std::string capability_stream(std::string_view t, std::string_view id) {
  return "entitlement-capability:" + std::string(t) + "/" + std::string(id);
}
std::string plan_stream(std::string_view t, std::string_view id) {
  return "entitlement-plan:" + std::string(t) + "/" + std::string(id);
}
std::string policy_stream(std::string_view t, std::string_view id) {
  return "entitlement-policy:" + std::string(t) + "/" + std::string(id);
}
std::string version_stream(std::string_view t, std::string_view id) {
  return "entitlement-version:" + std::string(t) + "/" + std::string(id);
}
std::string settings_stream(std::string_view t) { return "entitlement-settings:" + std::string(t); }
std::string activation_stream(std::string_view t, std::string_view policy_id, std::string_view env) {
  return "entitlement-activation:" + std::string(t) + "/" + std::string(policy_id) + "/" + std::string(env);
}

std::string default_policy_id(std::string_view capability_id) {
  if (capability_id.starts_with("cap-")) capability_id.remove_prefix(4);
  return "pol-" + std::string(capability_id);
}

std::string command_type(const Command& c) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, DefineCapability>)
          return "capability.define";
        else if constexpr (std::is_same_v<T, DeprecateCapability>)
          return "capability.deprecate";
        else if constexpr (std::is_same_v<T, RetireCapability>)
          return "capability.retire";
        else if constexpr (std::is_same_v<T, DefinePlan>)
          return "plan.define";
        else if constexpr (std::is_same_v<T, UpdatePlan>)
          return "plan.update";
        else if constexpr (std::is_same_v<T, ArchivePlan>)
          return "plan.archive";
        else if constexpr (std::is_same_v<T, CreatePolicy>)
          return "policy.create";
        else if constexpr (std::is_same_v<T, CreateVersion>)
          return "policy.create_version";
        else if constexpr (std::is_same_v<T, ActivateVersion>)
          return "policy.activate";
        else if constexpr (std::is_same_v<T, ArchiveVersion>)
          return "policy.archive_version";
        else if constexpr (std::is_same_v<T, ConfigureSpace>)
          return "entitlements.configure";
        else
          static_assert(sizeof(T) == 0, "every entitlement command has a type name");
      },
      c);
}

const std::vector<std::string>& entitlement_event_types() {
  static const std::vector<std::string> kTypes = {events::CapabilityDefined::kType,
                                                  events::CapabilityDeprecated::kType,
                                                  events::CapabilityRetired::kType,
                                                  events::PlanDefined::kType,
                                                  events::PlanUpdated::kType,
                                                  events::PlanArchived::kType,
                                                  events::EntitlementPolicyCreated::kType,
                                                  events::PolicyVersionCreated::kType,
                                                  events::PolicyVersionActivated::kType,
                                                  events::PolicyVersionArchived::kType,
                                                  events::EntitlementSettingsChanged::kType};
  return kTypes;
}

// ------------------------------------------------------------------ state

const Version* Policy::version(std::string_view version_id) const {
  for (const auto& v : versions) {
    if (v.id == version_id) return &v;
  }
  return nullptr;
}

std::string status_at(const Policy& p, const Version& v, const Cut& cut) {
  if (cut.position <= 0 && !cut.time) return p.status_of(v);
  if (v.archived && cut.admits(v.archived_position, v.archived_at)) return "archived";
  for (auto env : kEnvironments) {
    const Activation* a = p.active_at(env, cut.position, cut.time);
    if (a && a->version_id == v.id) return "active";
  }
  for (const auto& a : p.activations) {
    if (a.version_id == v.id && cut.admits(a.position, a.at)) return "superseded";
  }
  return "draft";
}

std::string Policy::status_of(const Version& v) const {
  if (v.archived) return "archived";
  for (const auto& [env, idx] : active) {
    if (activations[idx].version_id == v.id) return "active";
  }
  return v.ever_active ? "superseded" : "draft";
}

const Activation* Policy::active_at(std::string_view environment, std::int64_t max_position,
                                    std::optional<events::Instant> max_time) const {
  const Cut cut{max_position, max_time};
  if (cut.position <= 0 && !cut.time) {
    auto it = active.find(std::string(environment));
    return it == active.end() ? nullptr : &activations[it->second];
  }
  const Activation* found = nullptr;
  for (const auto& a : activations) {
    if (a.environment == environment && cut.admits(a.position, a.at)) found = &a;
  }
  return found;
}

const Space* EntitlementsModel::space(std::string_view tenant) const {
  auto it = spaces_.find(tenant);
  return it == spaces_.end() ? nullptr : &it->second;
}

const Capability* EntitlementsModel::capability(std::string_view tenant, std::string_view id) const {
  const Space* s = space(tenant);
  if (!s) return nullptr;
  auto it = s->capabilities.find(std::string(id));
  return it == s->capabilities.end() ? nullptr : &it->second;
}

const Capability* EntitlementsModel::capability_named(std::string_view tenant, std::string_view name) const {
  const Space* s = space(tenant);
  if (!s) return nullptr;
  auto it = s->capability_by_name.find(std::string(name));
  return it == s->capability_by_name.end() ? nullptr : capability(tenant, it->second);
}

const Plan* EntitlementsModel::plan(std::string_view tenant, std::string_view id) const {
  const Space* s = space(tenant);
  if (!s) return nullptr;
  auto it = s->plans.find(std::string(id));
  return it == s->plans.end() ? nullptr : &it->second;
}

const Policy* EntitlementsModel::policy(std::string_view tenant, std::string_view id) const {
  const Space* s = space(tenant);
  if (!s) return nullptr;
  auto it = s->policies.find(std::string(id));
  return it == s->policies.end() ? nullptr : &it->second;
}

std::int64_t EntitlementsModel::stream_version(const std::string& stream_id) const {
  auto it = stream_versions_.find(stream_id);
  return it == stream_versions_.end() ? 0 : it->second;
}

bool EntitlementsModel::plan_archived(std::string_view plan_id) const {
  auto it = archived_plans_.find(std::string(plan_id));
  return it != archived_plans_.end() && it->second > 0;
}

void EntitlementsModel::apply(const events::EventMeta& meta, const events::Event& event) {
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (events::kIsEntitlementEvent<T>) {
          ++stream_versions_[meta.stream_id];
          Space& s = spaces_[e.tenant];
          if constexpr (std::is_same_v<T, events::CapabilityDefined>) {
            Capability c;
            c.id = e.capability_id;
            c.name = e.name;
            c.description = e.description;
            c.defined_position = meta.global_position.value;
            c.defined_at = meta.recorded_at;
            s.capability_by_name[e.name] = e.capability_id;
            s.capabilities[e.capability_id] = std::move(c);
          } else if constexpr (std::is_same_v<T, events::CapabilityDeprecated>) {
            auto& c = s.capabilities[e.capability_id];
            c.status = "deprecated";
            c.deprecated_position = meta.global_position.value;
          } else if constexpr (std::is_same_v<T, events::CapabilityRetired>) {
            auto& c = s.capabilities[e.capability_id];
            c.status = "retired";
            c.retired_position = meta.global_position.value;
            c.retired_at = meta.recorded_at;
          } else if constexpr (std::is_same_v<T, events::PlanDefined>) {
            Plan p;
            p.id = e.plan_id;
            p.display_name = e.display_name;
            p.description = e.description;
            p.defined_at = p.updated_at = meta.recorded_at;
            s.plans[e.plan_id] = std::move(p);
          } else if constexpr (std::is_same_v<T, events::PlanUpdated>) {
            auto& p = s.plans[e.plan_id];
            p.display_name = e.display_name;
            p.description = e.description;
            p.updated_at = meta.recorded_at;
          } else if constexpr (std::is_same_v<T, events::PlanArchived>) {
            auto& p = s.plans[e.plan_id];
            if (p.status != "archived") ++archived_plans_[e.plan_id];
            p.status = "archived";
            p.updated_at = meta.recorded_at;
          } else if constexpr (std::is_same_v<T, events::EntitlementPolicyCreated>) {
            Policy p;
            p.id = e.policy_id;
            p.capability_id = e.capability_id;
            p.name = e.name;
            p.description = e.description;
            p.created_position = meta.global_position.value;
            p.created_at = meta.recorded_at;
            s.policy_by_capability[e.capability_id] = e.policy_id;
            s.policies[e.policy_id] = std::move(p);
          } else if constexpr (std::is_same_v<T, events::PolicyVersionCreated>) {
            Version v;
            v.id = e.version_id;
            v.version = e.version;
            v.rules = Rules{e.rules_type, e.allowed_plans, e.deny_overrides};
            v.changelog = e.changelog;
            v.created_by = e.created_by;
            v.created_position = meta.global_position.value;
            v.created_at = meta.recorded_at;
            s.policies[e.policy_id].versions.push_back(std::move(v));
          } else if constexpr (std::is_same_v<T, events::PolicyVersionActivated>) {
            auto& p = s.policies[e.policy_id];
            p.activations.push_back(Activation{e.activation_id, e.version_id, e.version, e.environment,
                                               e.superseded_version_id, e.changelog, e.activated_by,
                                               meta.global_position.value, meta.recorded_at});
            p.active[e.environment] = p.activations.size() - 1;
            for (auto& v : p.versions) {
              if (v.id == e.version_id) v.ever_active = true;
            }
          } else if constexpr (std::is_same_v<T, events::EntitlementSettingsChanged>) {
            s.require_progression = e.require_progression;
            s.shadow_max_age_seconds = e.shadow_max_age_seconds;
          } else if constexpr (std::is_same_v<T, events::PolicyVersionArchived>) {
            for (auto& v : s.policies[e.policy_id].versions) {
              if (v.id != e.version_id) continue;
              v.archived = true;
              v.archived_position = meta.global_position.value;
              v.archived_at = meta.recorded_at;
            }
          }
        }
      },
      event);
}

// ------------------------------------------------------------------ checks

CheckResult EntitlementsModel::check(const CheckInput& in) const { return check(in, Cut{}); }

CheckResult EntitlementsModel::check(const CheckInput& in, const Cut& cut) const {
  CheckResult r;
  r.allowed = false;  // default deny, whatever follows
  const Capability* cap = capability_named(in.tenant, in.capability);
  const bool cap_known = cap && cut.admits(cap->defined_position, cap->defined_at) &&
                         !(cap->retired_position > 0 && cut.admits(cap->retired_position, cap->retired_at));
  if (!cap_known) {
    r.reason = "unknown_capability";
    return r;
  }
  r.capability_id = cap->id;
  const Space* s = space(in.tenant);
  auto pid = s->policy_by_capability.find(cap->id);
  const Policy* p = pid == s->policy_by_capability.end() ? nullptr : policy(in.tenant, pid->second);
  const Activation* a = p ? p->active_at(in.environment, cut.position, cut.time) : nullptr;
  if (!a) {
    r.reason = "no_active_policy";
    if (p) r.policy_id = p->id;
    return r;
  }
  const Version* v = p->version(a->version_id);
  r.policy_id = p->id;
  r.version_id = a->version_id;
  r.version = a->version;
  r.activation_id = a->activation_id;
  if (!v) {
    r.reason = "no_active_policy";
    return r;
  }
  if (contains(v->rules.deny_overrides, in.plan)) {
    r.reason = "deny_override";
  } else if (contains(v->rules.allowed_plans, in.plan)) {
    r.allowed = true;
    r.reason = "plan_allowed";
  } else {
    r.reason = "plan_not_allowed";
  }
  return r;
}

std::vector<EvaluationSnapshot> EntitlementsModel::active(std::string_view tenant, std::string_view environment,
                                                          const Cut& cut) const {
  std::vector<EvaluationSnapshot> out;
  const Space* s = space(tenant);
  if (!s) return out;
  for (const auto& [name, cap_id] : s->capability_by_name) {
    const Capability& cap = s->capabilities.at(cap_id);
    if (!cut.admits(cap.defined_position, cap.defined_at)) continue;
    if (cap.retired_position > 0 && cut.admits(cap.retired_position, cap.retired_at)) continue;
    auto pid = s->policy_by_capability.find(cap_id);
    if (pid == s->policy_by_capability.end()) continue;
    const Policy& p = s->policies.at(pid->second);
    const Activation* a = p.active_at(environment, cut.position, cut.time);
    if (!a) continue;
    const Version* v = p.version(a->version_id);
    if (!v) continue;
    const bool deprecated =
        cap.deprecated_position > 0 && (cut.position <= 0 || cap.deprecated_position <= cut.position);
    out.push_back(EvaluationSnapshot{cap.id, cap.name, deprecated ? "deprecated" : "active", p.id, v->id,
                                     a->activation_id, v->version, v->rules, a->at, a->position});
  }
  return out;
}

std::map<std::pair<std::string, std::string>, std::string> active_versions(const EntitlementsModel& m,
                                                                           std::string_view tenant) {
  std::map<std::pair<std::string, std::string>, std::string> out;
  const Space* s = m.space(tenant);
  if (!s) return out;
  for (const auto& [id, p] : s->policies) {
    for (const auto& [env, idx] : p.active) out[{id, env}] = p.activations[idx].version_id;
  }
  return out;
}

// ------------------------------------------------------------------ decide

namespace {

Result<Decided> decide_one(const EntitlementsModel& m, const DefineCapability& c, const Context&) {
  if (auto ok = check_tenant(c.tenant); !ok) return std::unexpected(ok.error());
  if (auto ok = check_capability_name(c.name); !ok) return std::unexpected(ok.error());
  if (auto ok = check_text(c.description, "description", 1024, false); !ok) return std::unexpected(ok.error());
  const std::string id = c.capability_id.empty() ? "cap-" + c.name : c.capability_id;
  if (!valid_id(id)) {
    return refuse(ErrorKind::kInvalidArgument, "invalid_field", "id must be 1 to 128 of [A-Za-z0-9._:-]",
                  {{"field", "id"}});
  }
  if (const Capability* existing = m.capability_named(c.tenant, c.name)) {
    return refuse(ErrorKind::kAborted, "capability_exists", "this tenant already has a capability of that name",
                  {{"name", c.name}, {"capability_id", existing->id}});
  }
  if (m.capability(c.tenant, id)) {
    return refuse(ErrorKind::kAborted, "capability_exists", "this tenant already has a capability of that id",
                  {{"capability_id", id}});
  }
  return one(capability_stream(c.tenant, id), events::CapabilityDefined{c.tenant, id, c.name, c.description});
}

Result<const Capability*> find_capability(const EntitlementsModel& m, std::string_view tenant, std::string_view id) {
  const Capability* cap = m.capability(tenant, id);
  if (!cap) {
    return refuse(ErrorKind::kNotFound, "unknown_capability", "no such capability",
                  {{"capability_id", std::string(id)}});
  }
  return cap;
}

Result<Decided> decide_one(const EntitlementsModel& m, const DeprecateCapability& c, const Context&) {
  auto cap = find_capability(m, c.tenant, c.capability_id);
  if (!cap) return std::unexpected(cap.error());
  if ((*cap)->status != "active") {
    return refuse(ErrorKind::kFailedPrecondition, "capability_not_active", "only an active capability is deprecated",
                  {{"capability_id", c.capability_id}, {"status", (*cap)->status}});
  }
  return one(capability_stream(c.tenant, c.capability_id),
             events::CapabilityDeprecated{c.tenant, c.capability_id, (*cap)->name, c.reason});
}

Result<Decided> decide_one(const EntitlementsModel& m, const RetireCapability& c, const Context&) {
  auto cap = find_capability(m, c.tenant, c.capability_id);
  if (!cap) return std::unexpected(cap.error());
  if ((*cap)->status == "retired") {
    return refuse(ErrorKind::kFailedPrecondition, "capability_retired", "the capability is already retired",
                  {{"capability_id", c.capability_id}});
  }
  if ((*cap)->status != "deprecated") {
    return refuse(ErrorKind::kFailedPrecondition, "retire_requires_deprecation",
                  "a capability is deprecated before it is retired", {{"capability_id", c.capability_id}});
  }
  return one(capability_stream(c.tenant, c.capability_id),
             events::CapabilityRetired{c.tenant, c.capability_id, (*cap)->name, c.reason});
}

Result<Decided> decide_one(const EntitlementsModel& m, const DefinePlan& c, const Context&) {
  if (auto ok = check_tenant(c.tenant); !ok) return std::unexpected(ok.error());
  if (!valid_id(c.plan_id)) {
    return refuse(ErrorKind::kInvalidArgument, "invalid_plan_name", "plan names are 1 to 128 of [A-Za-z0-9._:-]",
                  {{"field", "name"}});
  }
  if (auto ok = check_text(c.display_name, "displayName", 255, false); !ok) return std::unexpected(ok.error());
  if (auto ok = check_text(c.description, "description", 1024, false); !ok) return std::unexpected(ok.error());
  if (m.plan(c.tenant, c.plan_id)) {
    return refuse(ErrorKind::kAborted, "plan_exists", "this tenant already has a plan of that name",
                  {{"plan_id", c.plan_id}});
  }
  return one(plan_stream(c.tenant, c.plan_id), events::PlanDefined{c.tenant, c.plan_id, c.display_name, c.description});
}

Result<const Plan*> find_plan(const EntitlementsModel& m, std::string_view tenant, std::string_view id) {
  const Plan* p = m.plan(tenant, id);
  if (!p) return refuse(ErrorKind::kNotFound, "unknown_plan", "no such plan", {{"plan_id", std::string(id)}});
  return p;
}

Result<Decided> decide_one(const EntitlementsModel& m, const UpdatePlan& c, const Context&) {
  auto p = find_plan(m, c.tenant, c.plan_id);
  if (!p) return std::unexpected(p.error());
  if ((*p)->status == "archived") {
    return refuse(ErrorKind::kFailedPrecondition, "plan_archived", "an archived plan is not changed",
                  {{"plan_id", c.plan_id}});
  }
  const std::string display = c.display_name.value_or((*p)->display_name);
  const std::string description = c.description.value_or((*p)->description);
  if (auto ok = check_text(display, "displayName", 255, false); !ok) return std::unexpected(ok.error());
  if (auto ok = check_text(description, "description", 1024, false); !ok) return std::unexpected(ok.error());
  if (display == (*p)->display_name && description == (*p)->description) {
    return Decided{plan_stream(c.tenant, c.plan_id), {}};  // accepted, nothing changed
  }
  return one(plan_stream(c.tenant, c.plan_id),
             events::PlanUpdated{c.tenant, c.plan_id, (*p)->display_name, display, (*p)->description, description});
}

Result<Decided> decide_one(const EntitlementsModel& m, const ArchivePlan& c, const Context&) {
  auto p = find_plan(m, c.tenant, c.plan_id);
  if (!p) return std::unexpected(p.error());
  if ((*p)->status == "archived") return Decided{plan_stream(c.tenant, c.plan_id), {}};
  return one(plan_stream(c.tenant, c.plan_id), events::PlanArchived{c.tenant, c.plan_id, c.reason});
}

events::PolicyVersionCreated version_event(const std::string& tenant, const std::string& policy_id, std::int64_t number,
                                           const Rules& rules, const std::string& changelog, const Context& ctx) {
  return events::PolicyVersionCreated{tenant,
                                      policy_id,
                                      policy_id + "-v" + std::to_string(number),
                                      number,
                                      rules.type,
                                      rules.allowed_plans,
                                      rules.deny_overrides,
                                      changelog,
                                      ctx.actor};
}

Result<Decided> decide_one(const EntitlementsModel& m, const CreatePolicy& c, const Context& ctx) {
  if (auto ok = check_tenant(c.tenant); !ok) return std::unexpected(ok.error());
  auto cap = find_capability(m, c.tenant, c.capability_id);
  if (!cap) return std::unexpected(cap.error());
  if ((*cap)->status == "retired") {
    return refuse(ErrorKind::kFailedPrecondition, "capability_retired", "a retired capability gets no policy",
                  {{"capability_id", c.capability_id}});
  }
  if (auto ok = check_text(c.name, "name", 255, true); !ok) return std::unexpected(ok.error());
  if (auto ok = check_text(c.description, "description", 1024, false); !ok) return std::unexpected(ok.error());
  if (ctx.actor.empty()) {
    return refuse(ErrorKind::kInvalidArgument, "missing_actor", "created_by comes from the token; none was given");
  }
  const Space* s = m.space(c.tenant);
  if (auto it = s->policy_by_capability.find(c.capability_id); it != s->policy_by_capability.end()) {
    return refuse(ErrorKind::kAborted, "policy_exists", "the capability already has a policy; add a version to it",
                  {{"capability_id", c.capability_id}, {"policy_id", it->second}});
  }
  const std::string id = c.policy_id.empty() ? default_policy_id(c.capability_id) : c.policy_id;
  if (!valid_id(id)) {
    return refuse(ErrorKind::kInvalidArgument, "invalid_field", "id must be 1 to 128 of [A-Za-z0-9._:-]",
                  {{"field", "id"}});
  }
  if (m.policy(c.tenant, id)) {
    return refuse(ErrorKind::kAborted, "policy_exists", "a policy of that id exists", {{"policy_id", id}});
  }
  if (auto ok = check_rules(s, c.rules); !ok) return std::unexpected(ok.error());
  Decided d{policy_stream(c.tenant, id), {}};
  d.events.emplace_back(events::EntitlementPolicyCreated{c.tenant, id, c.capability_id, c.name, c.description});
  d.events.emplace_back(
      version_event(c.tenant, id, 1, c.rules, c.changelog.empty() ? std::string("initial version") : c.changelog, ctx));
  return d;
}

Result<Decided> decide_one(const EntitlementsModel& m, const CreateVersion& c, const Context& ctx) {
  auto p = find_policy(m, c.tenant, c.policy_id);
  if (!p) return std::unexpected(p.error());
  if (auto ok = check_text(c.changelog, "changelog", 2048, true); !ok) return std::unexpected(ok.error());
  if (ctx.actor.empty()) {
    return refuse(ErrorKind::kInvalidArgument, "missing_actor", "created_by comes from the token; none was given");
  }
  const Capability* cap = m.capability(c.tenant, (*p)->capability_id);
  if (cap && cap->status == "retired") {
    return refuse(ErrorKind::kFailedPrecondition, "capability_retired", "a retired capability gets no new version",
                  {{"capability_id", cap->id}});
  }
  if (auto ok = check_rules(m.space(c.tenant), c.rules); !ok) return std::unexpected(ok.error());
  // Gap-free: the next number is always one past the last.
  const auto next = static_cast<std::int64_t>((*p)->versions.size()) + 1;
  return one(policy_stream(c.tenant, c.policy_id),
             version_event(c.tenant, c.policy_id, next, c.rules, c.changelog, ctx));
}

Result<Decided> decide_one(const EntitlementsModel& m, const ActivateVersion& c, const Context& ctx) {
  if (auto ok = check_environment(c.environment); !ok) return std::unexpected(ok.error());
  auto p = find_policy(m, c.tenant, c.policy_id);
  if (!p) return std::unexpected(p.error());
  const Version* v = (*p)->version(c.version_id);
  if (!v) {
    return refuse(ErrorKind::kNotFound, "unknown_version", "no such version of this policy",
                  {{"policy_id", c.policy_id}, {"version_id", c.version_id}});
  }
  if (auto ok = check_text(c.changelog, "changelog", 2048, true); !ok) return std::unexpected(ok.error());
  if (v->archived) {
    return refuse(ErrorKind::kFailedPrecondition, "version_archived", "an archived version is never activated",
                  {{"version_id", c.version_id}});
  }
  const Capability* cap = m.capability(c.tenant, (*p)->capability_id);
  if (cap && cap->status == "retired") {
    return refuse(ErrorKind::kFailedPrecondition, "capability_retired", "a retired capability is not activated",
                  {{"capability_id", cap->id}});
  }
  // The recommended progression, when the product space requires it.
  if (const Space* s = m.space(c.tenant); s && s->require_progression && c.environment != "dev") {
    const std::string before = c.environment == "production" ? "staging" : "dev";
    bool was_there = false;
    for (const auto& a : (*p)->activations) was_there = was_there || (a.version_id == v->id && a.environment == before);
    if (!was_there) {
      return refuse(
          ErrorKind::kFailedPrecondition, "progression_required",
          "this product space requires dev -> staging -> production: activate the version in " + before + " first",
          {{"version_id", c.version_id}, {"environment", c.environment}, {"required_environment", before}});
    }
  }
  const Activation* current = (*p)->active_at(c.environment, 0, std::nullopt);
  if (current && current->version_id == c.version_id) {
    return Decided{activation_stream(c.tenant, c.policy_id, c.environment), {}};  // already the active one
  }
  // shadow_required: production only, a verified report of this very
  // version and environment, young enough by the writer's clock.
  std::string shadow;
  const Space* space = m.space(c.tenant);
  const std::int64_t max_age = space ? space->shadow_max_age_seconds : 0;
  if (max_age > 0 && c.environment == "production") {
    auto required = [&](const char* why) {
      return refuse(ErrorKind::kFailedPrecondition, "shadow_report_required",
                    "this product space requires a shadow report of the version, at most " + std::to_string(max_age) +
                        " s old, to activate it in production: POST /v1/policies/{id}/versions/{v}:shadow",
                    {{"version_id", c.version_id}, {"max_age_seconds", std::to_string(max_age)}, {"reason", why}});
    };
    if (!c.shadow) return required("missing");
    const ShadowEvidence& r = *c.shadow;
    if (!r.verified) return required("unverified");
    if (r.policy_id != c.policy_id || r.version_id != c.version_id || r.environment != c.environment) {
      return required("another_version_or_environment");
    }
    const std::int64_t age = ctx.now.micros - r.generated_at.micros;
    if (age > max_age * 1'000'000 || age < -60'000'000) return required("too_old");
    shadow = shadow_figures_json(r);
  }
  const std::string stream = activation_stream(c.tenant, c.policy_id, c.environment);
  const std::int64_t seq = m.stream_version(stream) + 1;
  return one(stream,
             events::PolicyVersionActivated{c.tenant, c.policy_id, v->id, v->version, c.environment,
                                            "act-" + c.policy_id + "-" + c.environment + "-" + std::to_string(seq),
                                            current ? current->version_id : std::string(),
                                            current ? current->version : 0, c.changelog, ctx.actor, std::move(shadow)});
}

Result<Decided> decide_one(const EntitlementsModel& m, const ArchiveVersion& c, const Context&) {
  auto p = find_policy(m, c.tenant, c.policy_id);
  if (!p) return std::unexpected(p.error());
  const Version* v = (*p)->version(c.version_id);
  if (!v) {
    return refuse(ErrorKind::kNotFound, "unknown_version", "no such version of this policy",
                  {{"policy_id", c.policy_id}, {"version_id", c.version_id}});
  }
  if (v->archived) return Decided{version_stream(c.tenant, v->id), {}};
  if ((*p)->status_of(*v) == "active") {
    return refuse(ErrorKind::kFailedPrecondition, "version_active",
                  "a version active in an environment is not archived; activate another one there first",
                  {{"version_id", c.version_id}});
  }
  return one(version_stream(c.tenant, v->id),
             events::PolicyVersionArchived{c.tenant, c.policy_id, v->id, v->version, c.reason});
}

Result<Decided> decide_one(const EntitlementsModel& m, const ConfigureSpace& c, const Context&) {
  const Space* s = m.space(c.tenant);
  const bool before = s && s->require_progression;
  const std::int64_t before_age = s ? s->shadow_max_age_seconds : 0;
  const std::int64_t age = c.shadow_max_age_seconds.value_or(before_age);
  if (age < 0 || age > 31LL * 24 * 3600) {
    return refuse(ErrorKind::kInvalidArgument, "invalid_field", "shadow_max_age_seconds must be 0 to 2678400 (31 days)",
                  {{"field", "shadow_max_age_seconds"}});
  }
  if (before == c.require_progression && before_age == age) return Decided{settings_stream(c.tenant), {}};
  return one(settings_stream(c.tenant),
             events::EntitlementSettingsChanged{c.tenant, before, c.require_progression, before_age, age});
}

}  // namespace

Result<Decided> decide(const EntitlementsModel& m, const Command& c, const Context& ctx) {
  const std::string tenant = std::visit([](const auto& x) { return x.tenant; }, c);
  if (auto ok = check_tenant(tenant); !ok) return std::unexpected(ok.error());
  return std::visit([&](const auto& x) { return decide_one(m, x, ctx); }, c);
}

}  // namespace ledger::domain::entitlements

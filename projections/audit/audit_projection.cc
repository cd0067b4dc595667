#include "projections/audit/audit_projection.h"

#include <nlohmann/json.hpp>

#include "events/codec/admission_codec.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::projections {
namespace {

Cell text(std::string s) { return Cell(std::move(s)); }
Cell integer(std::int64_t v) { return Cell(std::to_string(v)); }
Cell instant(events::Instant t) { return Cell(codec::format_instant(t)); }
Cell json(const nlohmann::json& j) { return Cell(j.dump()); }

// A config an event carries as JSON text; text the codec let through that
// does not parse is kept as a string, never thrown on (the projector must
// not stall on one event).
nlohmann::json config_cell(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

// What differs between event types; the envelope part is shared.
struct Change {
  std::string subject_kind;
  std::string subject_key;
  Cell scope_level;
  Cell scope_id;
  Cell before;
  Cell before_source;
  Cell after;
  Cell reason;
  Cell effective_at;
};

Change change_of(const events::PolicyKeyDefined& e) {
  nlohmann::json def = {{"value_type", codec::value_type_name(e.value_type)},
                        {"default_value", codec::encode_value(e.default_value)},
                        {"min", e.min ? nlohmann::json(*e.min) : nlohmann::json()},
                        {"max", e.max ? nlohmann::json(*e.max) : nlohmann::json()},
                        {"allowed", e.allowed},
                        {"description", e.description},
                        {"write_audience", codec::write_audience_name(e.write_audience)}};
  // A definition sets the key's global default: it is a change at the
  // global level, from nothing.
  return {"policy_key", e.key,  text(codec::scope_level_name(events::ScopeLevel::kGlobal)),
          text(""),     Cell(), Cell(),
          json(def),    Cell(), Cell()};
}

Change change_of(const events::PolicyValueSet& e) {
  return {"policy_key",
          e.key,
          text(codec::scope_level_name(e.scope.level)),
          text(e.scope.id),
          json(codec::encode_value(e.before)),
          text(codec::before_source_name(e.before_source)),
          json(codec::encode_value(e.after)),
          text(e.reason),
          instant(e.effective_at)};
}

// ------------------------------------------------------------ admission

Change admission_change(const events::Event& e, std::string kind, std::string key, const events::QuotaScope& scope,
                        Cell before, Cell reason) {
  return {std::move(kind),
          std::move(key),
          text(events::quota_level_name(scope.level)),
          text(scope.id),
          std::move(before),
          Cell(),
          json(codec::encode_payload(e)),
          std::move(reason),
          Cell()};
}

events::QuotaScope quota_scope(events::QuotaLevel l, std::string id) { return {l, std::move(id)}; }

// What changed for one admission event; nullopt for other events.
std::optional<Change> admission_change_of(const events::Event& event) {
  using events::QuotaLevel;
  return std::visit(
      [&](const auto& e) -> std::optional<Change> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, events::RegistryEntryRegistered>) {
          return admission_change(event, "registry", e.kind + ":" + e.entry_id, quota_scope(QuotaLevel::kGlobal, ""),
                                  e.before ? json(nlohmann::json(*e.before)) : Cell(), Cell());
        } else if constexpr (std::is_same_v<T, events::OrganizationCreated>) {
          return admission_change(event, "hierarchy", e.organization_id,
                                  quota_scope(QuotaLevel::kOrganization, e.organization_id), Cell(), Cell());
        } else if constexpr (std::is_same_v<T, events::OrganizationPlanChanged>) {
          return admission_change(event, "hierarchy", e.organization_id,
                                  quota_scope(QuotaLevel::kOrganization, e.organization_id),
                                  json({{"plan_id", e.before_plan_id}}), Cell());
        } else if constexpr (std::is_same_v<T, events::DepartmentCreated>) {
          return admission_change(event, "hierarchy", e.department_id,
                                  quota_scope(QuotaLevel::kDepartment, e.department_id), Cell(), Cell());
        } else if constexpr (std::is_same_v<T, events::DepartmentMoved>) {
          return admission_change(event, "hierarchy", e.department_id,
                                  quota_scope(QuotaLevel::kDepartment, e.department_id),
                                  json({{"parent_department_id", e.before_parent_department_id}}), Cell());
        } else if constexpr (std::is_same_v<T, events::ProjectCreated>) {
          return admission_change(event, "hierarchy", e.project_id, quota_scope(QuotaLevel::kProject, e.project_id),
                                  Cell(), Cell());
        } else if constexpr (std::is_same_v<T, events::ProjectMoved>) {
          return admission_change(event, "hierarchy", e.project_id, quota_scope(QuotaLevel::kProject, e.project_id),
                                  json({{"department_id", e.before_department_id}}), Cell());
        } else if constexpr (std::is_same_v<T, events::PrincipalCreated>) {
          return admission_change(event, "hierarchy", e.principal_id,
                                  quota_scope(QuotaLevel::kPrincipal, e.principal_id), Cell(), Cell());
        } else if constexpr (std::is_same_v<T, events::CeilingSet>) {
          return admission_change(
              event, "ceiling", e.target.dimension, e.scope,
              e.before_quantity ? json({{"quantity", *e.before_quantity}, {"unit", e.unit}}) : Cell(), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::CeilingCleared>) {
          return admission_change(event, "ceiling", e.target.dimension, e.scope,
                                  json({{"quantity", e.before_quantity}, {"unit", e.unit}}), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::CeilingDelegated> ||
                             std::is_same_v<T, events::CeilingDelegationRevoked>) {
          return admission_change(event, "delegation", e.dimension, e.scope, Cell(), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::ReservationDrafted>) {
          return admission_change(event, "reservation", e.reservation_id, e.owner, Cell(), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::ReservationStateChanged>) {
          // Later reservation events do not repeat the owner: they are filed
          // under the organization (the tenant) the reservation belongs to.
          return admission_change(event, "reservation", e.reservation_id,
                                  quota_scope(QuotaLevel::kOrganization, e.organization_id),
                                  json({{"state", e.before_state}}), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::ReservationConsumed> ||
                             std::is_same_v<T, events::ReservationReleased>) {
          return admission_change(event, "reservation", e.reservation_id,
                                  quota_scope(QuotaLevel::kOrganization, e.organization_id),
                                  json({{"consumed", e.before_consumed}}), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::AccessRefused>) {
          // Filed under the organization that was reached for, so its
          // auditors see the attempt (the platform sees every tenant).
          const auto scope = e.target_tenant == "platform" ? quota_scope(QuotaLevel::kGlobal, "")
                                                           : quota_scope(QuotaLevel::kOrganization, e.target_tenant);
          return admission_change(event, "access", e.route_family, scope, Cell(), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::ChainHeadSigned>) {
          // The writer's signed anchor: a platform fact about the chain.
          return admission_change(event, "chain", "head", quota_scope(QuotaLevel::kGlobal, ""), Cell(), Cell());
        } else if constexpr (std::is_same_v<T, events::TokenRevoked>) {
          const auto scope = e.tenant == "platform" ? quota_scope(QuotaLevel::kGlobal, "")
                                                    : quota_scope(QuotaLevel::kOrganization, e.tenant);
          return admission_change(event, "access", "token.revoke", scope, Cell(), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::ApplicationRegistered>) {
          return admission_change(event, "application", e.application_id,
                                  quota_scope(QuotaLevel::kOrganization, e.organization_id), Cell(), Cell());
        } else if constexpr (std::is_same_v<T, events::ApplicationRenamed>) {
          return admission_change(event, "application", e.application_id,
                                  quota_scope(QuotaLevel::kOrganization, e.organization_id),
                                  json({{"name", e.before_name}}), Cell());
        } else if constexpr (std::is_same_v<T, events::ApplicationRetired>) {
          return admission_change(event, "application", e.application_id,
                                  quota_scope(QuotaLevel::kOrganization, e.organization_id), Cell(), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::PolicyAttached>) {
          return admission_change(event, "app_policy", e.policy_id,
                                  quota_scope(QuotaLevel::kOrganization, e.organization_id), Cell(), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::PolicyUpdated> || std::is_same_v<T, events::PolicyDetached>) {
          return admission_change(
              event, "app_policy", e.policy_id, quota_scope(QuotaLevel::kOrganization, e.organization_id),
              json({{"config", config_cell(e.before_config.text)}, {"enabled", e.before_enabled}}), text(e.reason));
        } else if constexpr (events::kIsEntitlementEvent<T>) {
          // Plan entitlements: platform data, subject "<kind>:<tenant>/<id>".
          std::string key;
          if constexpr (requires { e.policy_id; })
            key = "policy:" + e.tenant + "/" + e.policy_id;
          else if constexpr (requires { e.plan_id; })
            key = "plan:" + e.tenant + "/" + e.plan_id;
          else if constexpr (requires { e.capability_id; })
            key = "capability:" + e.tenant + "/" + e.capability_id;
          else
            key = "settings:" + e.tenant;
          Cell why;
          if constexpr (requires { e.reason; })
            why = text(e.reason);
          else if constexpr (requires { e.changelog; })
            why = text(e.changelog);
          return admission_change(event, "entitlement", key, quota_scope(QuotaLevel::kGlobal, ""), Cell(), why);
        } else if constexpr (std::is_same_v<T, events::ConfigLayerSet>) {  // seed 004: a layer document
          const auto scope = e.tenant_id == "platform" ? quota_scope(QuotaLevel::kGlobal, "")
                                                       : quota_scope(QuotaLevel::kOrganization, e.tenant_id);
          return admission_change(event, "config", e.layer + (e.subject.empty() ? "" : ":" + e.subject), scope,
                                  Cell(e.before), text(e.reason));
        } else if constexpr (std::is_same_v<T, events::ConfigReloaded>) {  // the operator reload
          return admission_change(event, "config", "reload", quota_scope(QuotaLevel::kGlobal, ""), Cell(), Cell());
        } else {
          return std::nullopt;
        }
      },
      event);
}

}  // namespace

std::vector<RowOp> AuditProjection::apply(const events::Envelope& e) const {
  const auto& m = e.meta;
  std::optional<Change> admission = admission_change_of(e.event);
  Change c = admission ? std::move(*admission)
                       : std::visit(
                             [](const auto& ev) -> Change {
                               using T = std::decay_t<decltype(ev)>;
                               if constexpr (std::is_same_v<T, events::PolicyKeyDefined> ||
                                             std::is_same_v<T, events::PolicyValueSet>) {
                                 return change_of(ev);
                               } else {
                                 return {};  // filed under its stream below
                               }
                             },
                             e.event);
  if (c.subject_kind.empty()) {
    // An event no case above describes still gets its audit row (every row
    // names a subject): the stream it belongs to, at the platform.
    c.subject_kind = "event";
    c.subject_key = m.stream_id;
    c.scope_level = text(events::quota_level_name(events::QuotaLevel::kGlobal));
    c.scope_id = text("");
    c.after = json(codec::encode_payload(e.event));
  }
  nlohmann::json roles = m.actor.roles;
  RowOp op{std::string(kTable),
           {{"position", integer(m.global_position.value)}},
           {{"event_id", text(m.event_id)},
            {"tenant", text(m.tenant)},
            {"stream_id", text(m.stream_id)},
            {"stream_version", integer(m.stream_version.value)},
            {"event_type", text(events::type_name(e.event))},
            {"schema_version", integer(events::schema_version(e.event))},
            {"subject_kind", text(std::move(c.subject_kind))},
            {"subject_key", text(std::move(c.subject_key))},
            {"scope_level", std::move(c.scope_level)},
            {"scope_id", std::move(c.scope_id)},
            {"before", std::move(c.before)},
            {"before_source", std::move(c.before_source)},
            {"after", std::move(c.after)},
            {"reason", std::move(c.reason)},
            {"actor_type", text(m.actor.type)},
            {"actor_id", text(m.actor.id)},
            {"actor_roles", json(roles)},
            {"occurred_at", instant(m.occurred_at)},
            {"recorded_at", instant(m.recorded_at)},
            {"effective_at", std::move(c.effective_at)},
            {"correlation_id", text(m.correlation_id)},
            {"causation_id", text(m.causation_id)},
            {"command_id", text(m.command_id)}},
           false};
  return {std::move(op)};
}

}  // namespace ledger::projections

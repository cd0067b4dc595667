#include "projections/admission/admission_projection.h"

#include <nlohmann/json.hpp>

#include "events/codec/admission_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::projections {
namespace {

using Cells = std::vector<std::pair<std::string, Cell>>;

Cell text(std::string s) { return Cell(std::move(s)); }
Cell integer(std::int64_t v) { return Cell(std::to_string(v)); }
Cell boolean(bool b) { return Cell(b ? "true" : "false"); }
Cell level(events::QuotaLevel l) { return Cell(events::quota_level_name(l)); }
Cell attributes(const std::map<std::string, std::string>& a) { return Cell(nlohmann::json(a).dump()); }

RowOp upsert(const char* table, Cells key, Cells values) {
  return RowOp{table, std::move(key), std::move(values), false};
}

RowOp node(events::QuotaLevel l, const std::string& id, const std::string& organization_id, const std::string& name,
           const std::string& principal_type, const std::optional<events::Instant>& expires_at,
           const std::string& default_department_id, std::int64_t position) {
  return upsert("scope_nodes", {{"level", level(l)}, {"node_id", text(id)}},
                {{"organization_id", text(organization_id)},
                 {"name", text(name)},
                 {"principal_type", text(principal_type)},
                 {"expires_at", expires_at ? Cell(codec::format_instant(*expires_at)) : Cell()},
                 {"default_department_id", text(default_department_id)},
                 {"position", integer(position)}});
}

RowOp link(events::QuotaLevel l, const std::string& id, events::QuotaLevel parent_level, const std::string& parent_id,
           std::int64_t version, std::int64_t position) {
  return upsert("scope_links", {{"level", level(l)}, {"node_id", text(id)}, {"position", integer(position)}},
                {{"parent_level", level(parent_level)}, {"parent_id", text(parent_id)}, {"version", integer(version)}});
}

// A department hangs under its parent department, or its organization.
std::pair<events::QuotaLevel, std::string> department_parent(const std::string& organization_id,
                                                             const std::string& parent_department_id) {
  if (parent_department_id.empty()) return {events::QuotaLevel::kOrganization, organization_id};
  return {events::QuotaLevel::kDepartment, parent_department_id};
}

RowOp ceiling(const events::QuotaScope& scope, const std::string& organization_id, const std::string& rule_id,
              std::int64_t rule_version, const events::CeilingTarget& t, Cell quantity, const std::string& unit,
              std::int64_t position) {
  return upsert("ceiling_rules",
                {{"scope_level", level(scope.level)},
                 {"scope_id", text(scope.id)},
                 {"rule_id", text(rule_id)},
                 {"position", integer(position)}},
                {{"dimension", text(t.dimension)},
                 {"window", text(t.window)},
                 {"region", text(t.region)},
                 {"sku_or_model", text(t.sku_or_model)},
                 {"quantity", std::move(quantity)},
                 {"unit", text(unit)},
                 {"rule_version", integer(rule_version)},
                 {"organization_id", text(organization_id)}});
}

RowOp delegation(const events::QuotaScope& scope, const std::string& dimension, const std::string& delegation_id,
                 bool active, std::optional<std::int64_t> max_quantity, std::int64_t position) {
  return upsert("delegations",
                {{"scope_level", level(scope.level)},
                 {"scope_id", text(scope.id)},
                 {"dimension", text(dimension)},
                 {"position", integer(position)}},
                {{"delegation_id", text(delegation_id)},
                 {"active", boolean(active)},
                 {"max_quantity", max_quantity ? integer(*max_quantity) : Cell()}});
}

RowOp reservation_state(const std::string& organization_id, const std::string& id, Cell state, Cell consumed,
                        std::int64_t version, std::int64_t position) {
  return upsert(
      "reservation_states",
      {{"organization_id", text(organization_id)}, {"reservation_id", text(id)}, {"position", integer(position)}},
      {{"state", std::move(state)}, {"consumed", std::move(consumed)}, {"version", integer(version)}});
}

}  // namespace

const std::vector<std::string_view>& AdmissionProjection::tables() {
  static const std::vector<std::string_view> kTables = {"registry_entries",   "scope_nodes",      "scope_links",
                                                        "ceiling_rules",      "delegations",      "reservations",
                                                        "reservation_states", "token_revocations"};
  return kTables;
}

std::vector<RowOp> AdmissionProjection::apply(const events::Envelope& e) const {
  using events::QuotaLevel;
  const std::int64_t pos = e.meta.global_position.value;
  const std::int64_t version = e.meta.stream_version.value;
  std::vector<RowOp> ops;
  std::visit(
      [&](const auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, events::RegistryEntryRegistered>) {
          ops.push_back(upsert("registry_entries",
                               {{"kind", text(ev.kind)}, {"entry_id", text(ev.entry_id)}, {"position", integer(pos)}},
                               {{"version", integer(ev.version)},
                                {"description", text(ev.description)},
                                {"attributes", attributes(ev.attributes)}}));
        } else if constexpr (std::is_same_v<T, events::OrganizationCreated>) {
          // The organization and its default department, created together.
          ops.push_back(node(QuotaLevel::kOrganization, ev.organization_id, ev.organization_id, ev.name, "", {},
                             ev.default_department_id, pos));
          ops.push_back(
              link(QuotaLevel::kOrganization, ev.organization_id, QuotaLevel::kPlan, ev.plan_id, version, pos));
          ops.push_back(
              node(QuotaLevel::kDepartment, ev.default_department_id, ev.organization_id, "default", "", {}, "", pos));
          ops.push_back(link(QuotaLevel::kDepartment, ev.default_department_id, QuotaLevel::kOrganization,
                             ev.organization_id, version, pos));
        } else if constexpr (std::is_same_v<T, events::OrganizationPlanChanged>) {
          ops.push_back(
              link(QuotaLevel::kOrganization, ev.organization_id, QuotaLevel::kPlan, ev.plan_id, version, pos));
        } else if constexpr (std::is_same_v<T, events::DepartmentCreated>) {
          ops.push_back(node(QuotaLevel::kDepartment, ev.department_id, ev.organization_id, ev.name, "", {}, "", pos));
          auto [pl, pid] = department_parent(ev.organization_id, ev.parent_department_id);
          ops.push_back(link(QuotaLevel::kDepartment, ev.department_id, pl, pid, version, pos));
        } else if constexpr (std::is_same_v<T, events::DepartmentMoved>) {
          auto [pl, pid] = department_parent(ev.organization_id, ev.parent_department_id);
          ops.push_back(link(QuotaLevel::kDepartment, ev.department_id, pl, pid, version, pos));
        } else if constexpr (std::is_same_v<T, events::ProjectCreated>) {
          ops.push_back(node(QuotaLevel::kProject, ev.project_id, ev.organization_id, ev.name, "", {}, "", pos));
          ops.push_back(
              link(QuotaLevel::kProject, ev.project_id, QuotaLevel::kDepartment, ev.department_id, version, pos));
        } else if constexpr (std::is_same_v<T, events::ProjectMoved>) {
          ops.push_back(
              link(QuotaLevel::kProject, ev.project_id, QuotaLevel::kDepartment, ev.department_id, version, pos));
        } else if constexpr (std::is_same_v<T, events::PrincipalCreated>) {
          ops.push_back(node(QuotaLevel::kPrincipal, ev.principal_id, ev.organization_id, ev.name, ev.principal_type,
                             ev.expires_at, "", pos));
          ops.push_back(
              link(QuotaLevel::kPrincipal, ev.principal_id, QuotaLevel::kProject, ev.project_id, version, pos));
        } else if constexpr (std::is_same_v<T, events::CeilingSet>) {
          ops.push_back(ceiling(ev.scope, ev.organization_id, ev.rule_id, ev.rule_version, ev.target,
                                integer(ev.quantity), ev.unit, pos));
        } else if constexpr (std::is_same_v<T, events::CeilingCleared>) {
          ops.push_back(
              ceiling(ev.scope, ev.organization_id, ev.rule_id, ev.rule_version, ev.target, Cell(), ev.unit, pos));
        } else if constexpr (std::is_same_v<T, events::CeilingDelegated>) {
          ops.push_back(delegation(ev.scope, ev.dimension, ev.delegation_id, true, ev.max_quantity, pos));
        } else if constexpr (std::is_same_v<T, events::CeilingDelegationRevoked>) {
          ops.push_back(delegation(ev.scope, ev.dimension, ev.delegation_id, false, std::nullopt, pos));
        } else if constexpr (std::is_same_v<T, events::ReservationDrafted>) {
          // Ids are unique per organization (the events carry it, those
          // from before ids were scoped too).
          ops.push_back(
              upsert("reservations",
                     {{"organization_id", text(ev.organization_id)}, {"reservation_id", text(ev.reservation_id)}},
                     {{"owner_level", level(ev.owner.level)},
                      {"owner_id", text(ev.owner.id)},
                      {"kind", text(ev.kind)},
                      {"dimension", text(ev.dimension)},
                      {"region", text(ev.region)},
                      {"sku_or_model", text(ev.sku_or_model)},
                      {"quantity", integer(ev.quantity)},
                      {"unit", text(ev.unit)},
                      {"window_start", text(codec::format_instant(ev.window_start))},
                      {"window_end", text(codec::format_instant(ev.window_end))},
                      {"attributes", attributes(ev.attributes)},
                      {"position", integer(pos)}}));
          ops.push_back(
              reservation_state(ev.organization_id, ev.reservation_id, text("draft"), integer(0), version, pos));
        } else if constexpr (std::is_same_v<T, events::ReservationStateChanged>) {
          ops.push_back(reservation_state(ev.organization_id, ev.reservation_id, text(ev.state), Cell(), version, pos));
        } else if constexpr (std::is_same_v<T, events::ReservationConsumed> ||
                             std::is_same_v<T, events::ReservationReleased>) {
          ops.push_back(
              reservation_state(ev.organization_id, ev.reservation_id, Cell(), integer(ev.consumed), version, pos));
        } else if constexpr (std::is_same_v<T, events::TokenRevoked>) {
          const bool by_principal = !ev.principal_id.empty();
          ops.push_back(upsert("token_revocations",
                               {{"tenant", text(ev.tenant)},
                                {"kind", text(by_principal ? "principal" : "token")},
                                {"subject_id", text(by_principal ? ev.principal_id : ev.token_id)},
                                {"position", integer(pos)}},
                               {{"reason", text(ev.reason)}}));
        }
        // Policy events are not admission's.
      },
      e.event);
  return ops;
}

}  // namespace ledger::projections

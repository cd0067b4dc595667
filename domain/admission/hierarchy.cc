#include "domain/admission/hierarchy.h"

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "domain/admission/commands.h"
#include "domain/admission/internal.h"

namespace ledger::domain {

using admission_internal::below_reserved;
using admission_internal::capacity_shortfall;
using admission_internal::err;
using admission_internal::invalid;
using admission_internal::nothing;
using admission_internal::one;
using admission_internal::rule;
using admission_internal::unknown_scope;

std::string scope_text(const QuotaScope& s) {
  if (s.level == QuotaLevel::kGlobal) return "global";
  return std::string(quota_level_name(s.level)) + ":" + s.id;
}

bool valid_entity_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == ':';
  });
}

namespace admission_internal {

Result<void> check_id(const std::string& id, const char* what) {
  if (!valid_entity_id(id)) {
    return invalid("invalid_id",
                   std::string(what) + " must be 1-128 characters of letters, digits, '.', '_', '-', ':'");
  }
  return {};
}

}  // namespace admission_internal

using admission_internal::check_id;

// ------------------------------------------------------- the hierarchy commands

namespace {

using Node = AdmissionModel::Node;

std::string node_stream(const QuotaScope& s) { return scope_text(s); }

// A chain as it reads after `moved` is placed under `new_parent` (or, for
// an organization, on the plan `new_parent`): the part from the owner up to
// `moved` stays, the rest is `new_parent`'s chain. A chain without `moved`
// is unchanged.
std::vector<ChainNode> rechained(const AdmissionModel& m, const std::vector<ChainNode>& chain, const QuotaScope& moved,
                                 const QuotaScope& new_parent) {
  for (std::size_t k = 0; k < chain.size(); ++k) {
    if (chain[k].scope != moved) continue;
    std::vector<ChainNode> out(chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(k + 1));
    for (auto& n : m.chain(new_parent)) out.push_back(std::move(n));
    return out;
  }
  return chain;
}

// Refuses a hierarchy change (a move, a plan change: reservations.h) after
// which a reservation of the organization that holds capacity now or later,
// and fitted before, would not fit under the ceilings of its new place —
// the rule check_reserved_still_fit (ceiling_rules.cc) holds for ceiling
// changes.
Result<void> check_reservations_after_move(const AdmissionModel& m, const std::string& organization_id,
                                           const QuotaScope& moved, const QuotaScope& new_parent, Instant now) {
  std::map<std::string, std::vector<ReservationView>> before, after;  // by dimension
  for (const auto& r : m.all_reservations_of(organization_id)) {
    ReservationView a = r;
    a.owner_chain.clear();
    for (const auto& n : rechained(m, m.chain(r.owner), moved, new_parent)) {
      a.owner_chain.push_back(n.scope);
      if (n.scope.level == QuotaLevel::kOrganization) break;
    }
    before[r.dimension].push_back(r);
    after[r.dimension].push_back(std::move(a));
  }
  for (const auto& [dimension, rs] : after) {
    const auto& was = before.at(dimension);
    for (std::size_t i = 0; i < rs.size(); ++i) {
      const ReservationView& r = rs[i];
      if (!state_holds_capacity(r.state) || r.window_end <= now) continue;
      const auto chain = m.chain(r.owner);
      if (capacity_shortfall(chain, m.rules_on(chain, dimension), m.delegations_on(chain, dimension), was[i], was,
                             now)) {
        continue;  // did not fit before: not this change's doing
      }
      const auto moved_chain = rechained(m, chain, moved, new_parent);
      const auto short_after = capacity_shortfall(moved_chain, m.rules_on(moved_chain, dimension),
                                                  m.delegations_on(moved_chain, dimension), r, rs, now);
      if (!short_after) continue;
      return below_reserved(r, *short_after);
    }
  }
  return {};
}

}  // namespace

Result<Decided> decide(const AdmissionModel& m, const CreateOrganization& c) {
  if (auto ok = check_id(c.organization_id, "organization_id"); !ok) return std::unexpected(ok.error());
  if (auto ok = check_id(c.plan_id, "plan_id"); !ok) return std::unexpected(ok.error());
  const std::string dept = c.default_department_id.empty() ? c.organization_id + ".default" : c.default_department_id;
  if (auto ok = check_id(dept, "default_department_id"); !ok) return std::unexpected(ok.error());
  const QuotaScope scope{QuotaLevel::kOrganization, c.organization_id};
  const std::string stream = node_stream(scope);
  if (const Node* n = m.node(scope)) {
    if (n->plan_id == c.plan_id && n->name == c.name && n->default_department_id == dept) {
      return nothing(stream, c.organization_id);
    }
    return fail(err(ErrorKind::kAborted, "already_exists", "the organization exists with other attributes")
                    .with("scope", scope_text(scope)));
  }
  if (m.node({QuotaLevel::kDepartment, dept})) {
    return fail(err(ErrorKind::kAborted, "already_exists", "the default department id is taken")
                    .with("scope", "department:" + dept));
  }
  return one(stream, c.organization_id, events::OrganizationCreated{c.organization_id, c.name, c.plan_id, dept});
}

Result<Decided> decide(const AdmissionModel& m, const ChangeOrganizationPlan& c, Instant now) {
  const QuotaScope scope{QuotaLevel::kOrganization, c.organization_id};
  const Node* n = m.node(scope);
  if (!n) return unknown_scope(scope);
  if (auto ok = check_id(c.plan_id, "plan_id"); !ok) return std::unexpected(ok.error());
  if (n->plan_id == c.plan_id) return nothing(node_stream(scope), c.organization_id);
  if (auto ok = check_reservations_after_move(m, c.organization_id, scope, {QuotaLevel::kPlan, c.plan_id}, now); !ok) {
    return std::unexpected(ok.error());
  }
  return one(node_stream(scope), c.organization_id,
             events::OrganizationPlanChanged{c.organization_id, n->plan_id, c.plan_id});
}

Result<Decided> decide(const AdmissionModel& m, const CreateDepartment& c) {
  if (auto ok = check_id(c.department_id, "department_id"); !ok) return std::unexpected(ok.error());
  const QuotaScope org{QuotaLevel::kOrganization, c.organization_id};
  if (!m.node(org)) return unknown_scope(org);
  if (!c.parent_department_id.empty()) {
    const QuotaScope parent{QuotaLevel::kDepartment, c.parent_department_id};
    const Node* p = m.node(parent);
    if (!p) return unknown_scope(parent);
    if (p->organization_id != c.organization_id) {
      return rule("cross_organization", "a department's parent must be in the same organization");
    }
  }
  const QuotaScope scope{QuotaLevel::kDepartment, c.department_id};
  if (const Node* n = m.node(scope)) {
    const QuotaScope parent =
        c.parent_department_id.empty() ? org : QuotaScope{QuotaLevel::kDepartment, c.parent_department_id};
    if (n->organization_id == c.organization_id && n->parent == parent && n->name == c.name) {
      return nothing(node_stream(scope), c.organization_id);
    }
    return fail(err(ErrorKind::kAborted, "already_exists", "the department exists with other attributes")
                    .with("scope", scope_text(scope)));
  }
  return one(node_stream(scope), c.organization_id,
             events::DepartmentCreated{c.department_id, c.organization_id, c.parent_department_id, c.name});
}

Result<Decided> decide(const AdmissionModel& m, const MoveDepartment& c, Instant now) {
  const QuotaScope scope{QuotaLevel::kDepartment, c.department_id};
  const Node* n = m.node(scope);
  if (!n) return unknown_scope(scope);
  const QuotaScope org{QuotaLevel::kOrganization, n->organization_id};
  QuotaScope parent = org;
  if (!c.parent_department_id.empty()) {
    parent = {QuotaLevel::kDepartment, c.parent_department_id};
    const Node* p = m.node(parent);
    if (!p) return unknown_scope(parent);
    if (p->organization_id != n->organization_id) {
      return rule("cross_organization", "a department can only move within its organization");
    }
    if (m.is_ancestor_or_self(scope, parent)) {
      return fail(err(ErrorKind::kFailedPrecondition, "hierarchy_cycle",
                      "a department cannot move under itself or one of its own departments")
                      .with("department", c.department_id)
                      .with("new_parent", c.parent_department_id));
    }
  }
  if (n->parent == parent) return nothing(node_stream(scope), n->organization_id);
  if (auto ok = check_reservations_after_move(m, n->organization_id, scope, parent, now); !ok) {
    return std::unexpected(ok.error());
  }
  const std::string before = n->parent.level == QuotaLevel::kDepartment ? n->parent.id : "";
  return one(node_stream(scope), n->organization_id,
             events::DepartmentMoved{c.department_id, n->organization_id, before, c.parent_department_id});
}

Result<Decided> decide(const AdmissionModel& m, const CreateProject& c) {
  if (auto ok = check_id(c.project_id, "project_id"); !ok) return std::unexpected(ok.error());
  const QuotaScope org{QuotaLevel::kOrganization, c.organization_id};
  const Node* o = m.node(org);
  if (!o) return unknown_scope(org);
  const std::string dept = c.department_id.empty() ? o->default_department_id : c.department_id;
  const Node* d = m.node({QuotaLevel::kDepartment, dept});
  if (!d) return unknown_scope({QuotaLevel::kDepartment, dept});
  if (d->organization_id != c.organization_id) {
    return rule("cross_organization", "the department belongs to another organization");
  }
  const QuotaScope scope{QuotaLevel::kProject, c.project_id};
  if (const Node* n = m.node(scope)) {
    if (n->organization_id == c.organization_id && n->parent.id == dept && n->name == c.name) {
      return nothing(node_stream(scope), c.organization_id);
    }
    return fail(err(ErrorKind::kAborted, "already_exists", "the project exists with other attributes")
                    .with("scope", scope_text(scope)));
  }
  return one(node_stream(scope), c.organization_id,
             events::ProjectCreated{c.project_id, c.organization_id, dept, c.name});
}

Result<Decided> decide(const AdmissionModel& m, const MoveProject& c, Instant now) {
  const QuotaScope scope{QuotaLevel::kProject, c.project_id};
  const Node* n = m.node(scope);
  if (!n) return unknown_scope(scope);
  const QuotaScope dept{QuotaLevel::kDepartment, c.department_id};
  const Node* d = m.node(dept);
  if (!d) return unknown_scope(dept);
  if (d->organization_id != n->organization_id) {
    return rule("cross_organization", "a project can only move within its organization");
  }
  if (n->parent == dept) return nothing(node_stream(scope), n->organization_id);
  if (auto ok = check_reservations_after_move(m, n->organization_id, scope, dept, now); !ok) {
    return std::unexpected(ok.error());
  }
  return one(node_stream(scope), n->organization_id,
             events::ProjectMoved{c.project_id, n->organization_id, n->parent.id, c.department_id});
}

Result<Decided> decide(const AdmissionModel& m, const CreatePrincipal& c) {
  if (auto ok = check_id(c.principal_id, "principal_id"); !ok) return std::unexpected(ok.error());
  if (c.principal_type != "user" && c.principal_type != "service_account" && c.principal_type != "api_key") {
    return invalid("invalid_principal", "principal_type must be user, service_account or api_key");
  }
  const QuotaScope project{QuotaLevel::kProject, c.project_id};
  const Node* p = m.node(project);
  if (!p) return unknown_scope(project);
  const QuotaScope scope{QuotaLevel::kPrincipal, c.principal_id};
  if (const Node* n = m.node(scope)) {
    if (n->parent == project && n->principal_type == c.principal_type && n->name == c.name &&
        n->expires_at == c.expires_at) {
      return nothing(node_stream(scope), p->organization_id);
    }
    return fail(err(ErrorKind::kAborted, "already_exists", "the principal exists with other attributes")
                    .with("scope", scope_text(scope)));
  }
  return one(node_stream(scope), p->organization_id,
             events::PrincipalCreated{c.principal_id, c.principal_type, p->organization_id, c.project_id, c.name,
                                      c.expires_at});
}

}  // namespace ledger::domain

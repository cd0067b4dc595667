#include "commands/access/authorization.h"

#include <algorithm>

namespace ledger::commands {

namespace {

using events::QuotaLevel;
using events::QuotaScope;

bool platform_level(QuotaLevel l) { return l == QuotaLevel::kGlobal || l == QuotaLevel::kPlan; }

// The organization owning a known node, or nullopt.
std::optional<std::string> owner_of(const domain::AdmissionModel& m, const QuotaScope& s) {
  if (platform_level(s.level)) return std::string("platform");
  if (const auto* n = m.node(s)) return n->organization_id;
  return std::nullopt;
}

}  // namespace

std::string_view role_name(Role r) { return kRoleNames[static_cast<std::size_t>(r)]; }

std::optional<Role> parse_role(std::string_view name) {
  for (Role r : kRoles) {
    if (role_name(r) == name) return r;
  }
  return std::nullopt;
}

const FamilyRule& family_rule(RouteFamily f) {
  // kFamilies is listed in enum order (checked by the unit tests).
  return kFamilies[static_cast<std::size_t>(f)];
}

std::string_view family_name(RouteFamily f) { return family_rule(f).name; }

std::optional<RouteFamily> parse_family(std::string_view name) {
  for (const auto& rule : kFamilies) {
    if (rule.name == name) return rule.family;
  }
  return std::nullopt;
}

bool allows(Role r, RouteFamily f) { return (family_rule(f).allowed >> static_cast<unsigned>(r)) & 1u; }

bool allows(std::span<const std::string> role_names, RouteFamily f) {
  return std::any_of(role_names.begin(), role_names.end(), [&](const std::string& name) {
    auto r = parse_role(name);
    return r && allows(*r, f);
  });
}

std::optional<std::string_view> rate_limit_key(RouteFamily f) {
  for (const auto& route : kRateLimitRoutes) {
    if (route.family == f) return route.key;
  }
  return kApiRequestsPerMinute;
}

std::optional<RouteFamily> command_type_family(std::string_view type) {
  for (const auto& route : kCommandRoutes) {
    if (route.type == type) return route.family;
  }
  return std::nullopt;
}

RouteFamily command_family(const Command& c) {
  if (const auto* set = std::get_if<domain::SetPolicyValue>(&c)) {
    const auto l = set->scope.level;
    if (l == events::ScopeLevel::kGlobal || l == events::ScopeLevel::kPlan) return RouteFamily::kPlatformScopeWrite;
  }
  const QuotaScope* scope = std::visit(
      [](const auto& x) -> const QuotaScope* {
        if constexpr (requires {
                        x.scope.level;
                        x.scope.id;
                      }) {
          if constexpr (std::is_same_v<std::decay_t<decltype(x.scope)>, QuotaScope>) return &x.scope;
        }
        return nullptr;
      },
      c);
  if (scope && platform_level(scope->level)) return RouteFamily::kPlatformScopeWrite;
  // A decoded command always has a listed type (decode_command refuses the rest).
  return command_type_family(command_type(c)).value_or(RouteFamily::kPlatformScopeWrite);
}

std::optional<RouteFamily> query_family(std::string_view method, std::string_view path) {
  for (const auto& route : kQueryRoutes) {
    if (route.method != method) continue;
    if (route.prefix ? (path.size() > route.path.size() && path.starts_with(route.path)) : path == route.path) {
      return route.family;
    }
  }
  return std::nullopt;
}

bool is_refusal_recorder(const Principal& who) {
  return who.tenant == kRefusalRecorderTenant && who.actor.roles.size() == 1 &&
         who.actor.roles.front() == role_name(Role::kRefusalRecorder);
}

domain::Result<void> authorize(const Principal& who, RouteFamily f) {
  bool allowed = false;
  if (who.tenant == kRefusalRecorderTenant) {
    allowed = f == RouteFamily::kAccessRecord && is_refusal_recorder(who);
  } else {
    allowed = std::any_of(who.actor.roles.begin(), who.actor.roles.end(), [&](const std::string& name) {
      auto r = parse_role(name);
      return r && *r != Role::kRefusalRecorder && allows(*r, f);
    });
  }
  if (allowed) return {};
  domain::Error e{
      domain::ErrorKind::kPermissionDenied, "forbidden", "this principal's roles do not allow this route", {}};
  e.with("route_family", std::string(family_name(f)));
  return std::unexpected(std::move(e));
}

bool is_tenant_principal(const Principal& who) { return who.tenant != "platform"; }

bool is_principal_actor_type(std::string_view type) {
  return type == "user" || type == "service_account" || type == "api_key" || type == "worker";
}

bool tenant_bound(const Principal& who, const Command& c) {
  if (std::holds_alternative<domain::RecordAccessRefusal>(c)) return !is_refusal_recorder(who);
  return is_tenant_principal(who);
}

Principal budget_principal(const Principal& who, const Command& c) {
  if (const auto* r = std::get_if<domain::RecordAccessRefusal>(&c); r && is_refusal_recorder(who)) {
    Principal refused;
    refused.actor = events::Actor{r->refusal.actor_type, r->refusal.actor_id, r->refusal.actor_roles};
    refused.tenant = r->refusal.principal_tenant;
    return refused;
  }
  return who;
}

std::optional<std::string> target_tenant(const domain::AdmissionModel& m, const Command& c, const Principal& who) {
  using R = std::optional<std::string>;
  const std::string platform = "platform";
  return std::visit(
      [&](const auto& x) -> R {
        using T = std::decay_t<decltype(x)>;
        // Platform data: the key catalog, the registry, a product space's
        // entitlements (events/entitlement_events.h) and a configuration reload.
        if constexpr (std::is_same_v<T, domain::DefinePolicyKey> || std::is_same_v<T, domain::RegisterEntry> ||
                      std::is_same_v<T, domain::entitlements::Command> ||
                      std::is_same_v<T, domain::config::ReloadConfig>) {
          return platform;
        } else if constexpr (std::is_same_v<T, domain::SetPolicyValue>) {
          switch (x.scope.level) {
            case events::ScopeLevel::kGlobal:
            case events::ScopeLevel::kPlan:
              return platform;
            case events::ScopeLevel::kOrganization:
              return x.scope.id;
            case events::ScopeLevel::kProject:
              return owner_of(m, {QuotaLevel::kProject, x.scope.id}).value_or(who.tenant);
            case events::ScopeLevel::kUser:
              return owner_of(m, {QuotaLevel::kPrincipal, x.scope.id}).value_or(who.tenant);
          }
          return who.tenant;
        } else if constexpr (std::is_same_v<T, domain::CreateOrganization> ||
                             std::is_same_v<T, domain::ChangeOrganizationPlan> ||
                             std::is_same_v<T, domain::CreateDepartment> || std::is_same_v<T, domain::CreateProject>) {
          return x.organization_id;
        } else if constexpr (std::is_same_v<T, domain::MoveDepartment>) {
          return owner_of(m, {QuotaLevel::kDepartment, x.department_id});
        } else if constexpr (std::is_same_v<T, domain::MoveProject> || std::is_same_v<T, domain::CreatePrincipal>) {
          return owner_of(m, {QuotaLevel::kProject, x.project_id});
        } else if constexpr (std::is_same_v<T, domain::SetCeiling> || std::is_same_v<T, domain::ClearCeiling> ||
                             std::is_same_v<T, domain::DelegateCeiling> ||
                             std::is_same_v<T, domain::RevokeDelegation>) {
          return owner_of(m, x.scope);
        } else if constexpr (std::is_same_v<T, domain::DraftReservation>) {
          return owner_of(m, x.owner);
        } else if constexpr (std::is_same_v<T, domain::TransitionReservation> ||
                             std::is_same_v<T, domain::ConsumeReservation> ||
                             std::is_same_v<T, domain::ReleaseReservation> ||
                             std::is_same_v<T, domain::app_policy::RegisterApplication> ||
                             std::is_same_v<T, domain::app_policy::RenameApplication> ||
                             std::is_same_v<T, domain::app_policy::RetireApplication> ||
                             std::is_same_v<T, domain::app_policy::AttachPolicy>) {
          // Reservation and application ids are unique per organization: the
          // one it names is the one it reaches into
          // (resolve_reservation_organization fills a tenant's).
          if (!x.organization_id.empty()) return x.organization_id;
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, domain::RecordAccessRefusal>) {
          return x.refusal.target_tenant;
        } else if constexpr (std::is_same_v<T, domain::RevokeToken>) {
          return x.tenant;
        } else if constexpr (std::is_same_v<T, domain::app_policy::UpdatePolicy> ||
                             std::is_same_v<T, domain::app_policy::DetachPolicy>) {
          auto org = m.apps().organization_of_policy(x.policy_id);
          if (!org.empty()) return org;
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, domain::config::SetConfigLayer>) {
          return x.ref.tenant;  // "platform" for the platform-owned layers
        } else if constexpr (std::is_same_v<T, domain::config::ShredConfigSecrets>) {
          return x.tenant_id;
        } else {
          static_assert(sizeof(T) == 0, "every command names the organization it reaches into");
        }
      },
      c);
}

std::string declared_tenant(const Command& c, const Principal& who) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (requires { x.organization_id; }) {
          if (!x.organization_id.empty()) return x.organization_id;
        }
        if constexpr (std::is_same_v<T, domain::SetPolicyValue>) {
          if (x.scope.level == events::ScopeLevel::kOrganization) return x.scope.id;
        }
        if constexpr (requires { x.scope.level; }) {
          if constexpr (std::is_same_v<std::decay_t<decltype(x.scope)>, QuotaScope>) {
            if (x.scope.level == QuotaLevel::kOrganization) return x.scope.id;
          }
        }
        if constexpr (std::is_same_v<T, domain::RecordAccessRefusal>) return x.refusal.target_tenant;
        if constexpr (std::is_same_v<T, domain::RevokeToken>) return x.tenant;
        return who.tenant;
      },
      c);
}

void resolve_reservation_organization(Command& c, const Principal& who) {
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, domain::TransitionReservation> ||
                      std::is_same_v<T, domain::ConsumeReservation> || std::is_same_v<T, domain::ReleaseReservation>) {
          if (x.organization_id.empty() && is_tenant_principal(who)) x.organization_id = who.tenant;
        }
        if constexpr (std::is_same_v<T, domain::app_policy::RegisterApplication> ||
                      std::is_same_v<T, domain::app_policy::RenameApplication> ||
                      std::is_same_v<T, domain::app_policy::RetireApplication> ||
                      std::is_same_v<T, domain::app_policy::AttachPolicy>) {
          if (x.organization_id.empty() && is_tenant_principal(who)) x.organization_id = who.tenant;
        }
      },
      c);
}

bool addresses_policy_by_id(const Command& c) {
  return std::holds_alternative<domain::app_policy::UpdatePolicy>(c) ||
         std::holds_alternative<domain::app_policy::DetachPolicy>(c);
}

bool addresses_reservation_by_id(const Command& c) {
  return std::holds_alternative<domain::TransitionReservation>(c) ||
         std::holds_alternative<domain::ConsumeReservation>(c) || std::holds_alternative<domain::ReleaseReservation>(c);
}

}  // namespace ledger::commands

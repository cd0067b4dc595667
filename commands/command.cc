#include "commands/command.h"

namespace ledger::commands {

bool is_policy_command(const Command& c) {
  return std::holds_alternative<domain::DefinePolicyKey>(c) || std::holds_alternative<domain::SetPolicyValue>(c);
}

std::string command_type(const Command& c) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, domain::DefinePolicyKey>)
          return "policy_key.define";
        else if constexpr (std::is_same_v<T, domain::SetPolicyValue>)
          return "policy_value.set";
        else if constexpr (std::is_same_v<T, domain::RegisterEntry>)
          return "registry.register";
        else if constexpr (std::is_same_v<T, domain::CreateOrganization>)
          return "organization.create";
        else if constexpr (std::is_same_v<T, domain::ChangeOrganizationPlan>)
          return "organization.change_plan";
        else if constexpr (std::is_same_v<T, domain::CreateDepartment>)
          return "department.create";
        else if constexpr (std::is_same_v<T, domain::MoveDepartment>)
          return "department.move";
        else if constexpr (std::is_same_v<T, domain::CreateProject>)
          return "project.create";
        else if constexpr (std::is_same_v<T, domain::MoveProject>)
          return "project.move";
        else if constexpr (std::is_same_v<T, domain::CreatePrincipal>)
          return "principal.create";
        else if constexpr (std::is_same_v<T, domain::SetCeiling>)
          return "ceiling.set";
        else if constexpr (std::is_same_v<T, domain::ClearCeiling>)
          return "ceiling.clear";
        else if constexpr (std::is_same_v<T, domain::DelegateCeiling>)
          return "ceiling.delegate";
        else if constexpr (std::is_same_v<T, domain::RevokeDelegation>)
          return "ceiling.revoke_delegation";
        else if constexpr (std::is_same_v<T, domain::DraftReservation>)
          return "reservation.draft";
        else if constexpr (std::is_same_v<T, domain::TransitionReservation>)
          return "reservation." + x.action;
        else if constexpr (std::is_same_v<T, domain::ConsumeReservation>)
          return "reservation.consume";
        else if constexpr (std::is_same_v<T, domain::ReleaseReservation>)
          return "reservation.release";
        else if constexpr (std::is_same_v<T, domain::RecordAccessRefusal>)
          return "access.record_refusal";
        else if constexpr (std::is_same_v<T, domain::RevokeToken>)
          return "token.revoke";
        else if constexpr (std::is_same_v<T, domain::app_policy::RegisterApplication>)
          return "application.register";
        else if constexpr (std::is_same_v<T, domain::app_policy::RenameApplication>)
          return "application.rename";
        else if constexpr (std::is_same_v<T, domain::app_policy::RetireApplication>)
          return "application.retire";
        else if constexpr (std::is_same_v<T, domain::app_policy::AttachPolicy>)
          return "app_policy.attach";
        else if constexpr (std::is_same_v<T, domain::app_policy::UpdatePolicy>)
          return "app_policy.update";
        else if constexpr (std::is_same_v<T, domain::app_policy::DetachPolicy>)
          return "app_policy.detach";
        else if constexpr (std::is_same_v<T, domain::entitlements::Command>)
          return domain::entitlements::command_type(x);
        else if constexpr (std::is_same_v<T, domain::config::SetConfigLayer>)
          return domain::config::command_type_of(x.ref.layer);
        else if constexpr (std::is_same_v<T, domain::config::ReloadConfig>)
          return "config.reload";
        else if constexpr (std::is_same_v<T, domain::config::ShredConfigSecrets>)
          return "config.secrets.shred";
        else
          static_assert(sizeof(T) == 0, "every command has a type name");
      },
      c);
}

std::string stream_of(const Command& c) {
  if (const auto* d = std::get_if<domain::DefinePolicyKey>(&c)) return domain::policy_stream_id(d->definition.key);
  if (const auto* s = std::get_if<domain::SetPolicyValue>(&c)) return domain::policy_stream_id(s->key);
  return {};
}

std::string tenant_of(const Command& c, const Principal& p) {
  if (const auto* set = std::get_if<domain::SetPolicyValue>(&c)) {
    if (set->scope.level == events::ScopeLevel::kOrganization) return set->scope.id;
  }
  return p.tenant.empty() ? std::string("platform") : p.tenant;
}

}  // namespace ledger::commands

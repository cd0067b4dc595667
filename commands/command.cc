#include "commands/command.h"

namespace ledger::commands {

std::string stream_of(const Command& c) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, domain::DefinePolicyKey>) return domain::policy_stream_id(x.definition.key);
        else return domain::policy_stream_id(x.key);
      },
      c);
}

std::string tenant_of(const Command& c, const Principal& p) {
  if (const auto* set = std::get_if<domain::SetPolicyValue>(&c)) {
    if (set->scope.level == events::ScopeLevel::kOrganization) return set->scope.id;
  }
  return p.tenant.empty() ? std::string("platform") : p.tenant;
}

}  // namespace ledger::commands

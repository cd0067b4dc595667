#include "commands/command.h"

namespace ledger::commands {

bool is_policy_command(const Command& c) {
  return std::holds_alternative<domain::DefinePolicyKey>(c) || std::holds_alternative<domain::SetPolicyValue>(c);
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

#include "projections/policy_values/policy_values_store.h"

#include <variant>

namespace ledger::projections {

using events::ScopeLevel;

void PolicyValuesModel::apply(const events::Envelope& e) {
  if (const auto* k = std::get_if<events::PolicyKeyDefined>(&e.event)) {
    keys_[k->key] = *k;  // the read model keeps the latest definition (one row per key)
    return;
  }
  if (const auto* v = std::get_if<events::PolicyValueSet>(&e.event)) {
    domain::ValueCandidate c{v->scope, v->after, v->effective_at, e.meta.global_position.value, e.meta.tenant};
    values_by_key_[v->key].at[{v->scope.level, v->scope.id}].push_back(std::move(c));
    ++values_;
  }
}

const events::PolicyKeyDefined* PolicyValuesModel::key(const std::string& name) const {
  auto it = keys_.find(name);
  return it == keys_.end() ? nullptr : &it->second;
}

std::vector<domain::ValueCandidate> PolicyValuesModel::candidates(const std::string& key,
                                                                  const domain::ScopeChain& chain) const {
  std::vector<domain::ValueCandidate> out;
  auto it = values_by_key_.find(key);
  if (it == values_by_key_.end()) return out;
  const auto& at = it->second.at;
  auto add = [&](ScopeLevel level, const std::string& id, bool tenant_bound) {
    auto found = at.find({level, id});
    if (found == at.end()) return;
    for (const auto& c : found->second) {
      // As the SQL: user and project ids are not unique across
      // organizations, so only the chain's organization's or the platform's.
      if (tenant_bound && c.tenant && *c.tenant != chain.org_id && *c.tenant != "platform") continue;
      out.push_back(c);
    }
  };
  add(ScopeLevel::kUser, chain.user_id, true);
  add(ScopeLevel::kProject, chain.project_id, true);
  add(ScopeLevel::kOrganization, chain.org_id, false);
  add(ScopeLevel::kPlan, chain.plan, false);
  add(ScopeLevel::kGlobal, "", false);
  return out;
}

const PolicyValuesModel::ValuesByScope* PolicyValuesModel::values_of(const std::string& key) const {
  auto it = values_by_key_.find(key);
  return it == values_by_key_.end() ? nullptr : &it->second.at;
}

std::vector<std::string> PolicyValuesModel::key_names(const std::string& prefix) const {
  std::vector<std::string> out;
  for (auto it = keys_.lower_bound(prefix); it != keys_.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(it->first);
  }
  return out;
}

}  // namespace ledger::projections

#include "domain/app_policy/model.h"

#include <algorithm>
#include <variant>

namespace ledger::domain::app_policy {

bool AppPolicyModel::handles(const events::Event& e) {
  return std::holds_alternative<events::ApplicationRegistered>(e) ||
         std::holds_alternative<events::ApplicationRenamed>(e) ||
         std::holds_alternative<events::ApplicationRetired>(e) || std::holds_alternative<events::PolicyAttached>(e) ||
         std::holds_alternative<events::PolicyUpdated>(e) || std::holds_alternative<events::PolicyDetached>(e);
}

std::string AppPolicyModel::stream_of(const std::string& organization_id, const std::string& application_id) {
  return "application:" + organization_id + "/" + application_id;
}

namespace {
void place(std::vector<std::string>& chain, const std::string& id, std::int64_t index) {
  std::erase(chain, id);
  const auto at = std::clamp<std::int64_t>(index, 0, static_cast<std::int64_t>(chain.size()));
  chain.insert(chain.begin() + at, id);
}
}  // namespace

void AppPolicyModel::apply(const events::Event& ev, const Stamp& stamp) {
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, events::ApplicationRegistered>) {
          Application a{e.application_id, e.organization_id, e.name, false, {}, stamp, stamp};
          apps_[{e.organization_id, e.application_id}] = std::move(a);
        } else if constexpr (std::is_same_v<T, events::ApplicationRenamed>) {
          auto it = apps_.find({e.organization_id, e.application_id});
          if (it == apps_.end()) return;
          it->second.name = e.name;
          it->second.updated = stamp;
        } else if constexpr (std::is_same_v<T, events::ApplicationRetired>) {
          auto it = apps_.find({e.organization_id, e.application_id});
          if (it == apps_.end()) return;
          it->second.retired = true;
          it->second.updated = stamp;
        } else if constexpr (std::is_same_v<T, events::PolicyAttached>) {
          auto it = apps_.find({e.organization_id, e.application_id});
          if (it == apps_.end()) return;
          policies_[e.policy_id] = AttachedPolicy{
              e.policy_id, e.application_id, e.organization_id, e.policy_type, e.config.text, e.enabled, 1, stamp,
              stamp};
          policy_orgs_[e.policy_id] = e.organization_id;
          place(it->second.chain, e.policy_id, e.index);
          it->second.updated = stamp;
        } else if constexpr (std::is_same_v<T, events::PolicyUpdated>) {
          auto p = policies_.find(e.policy_id);
          auto it = apps_.find({e.organization_id, e.application_id});
          if (p == policies_.end() || it == apps_.end()) return;
          p->second.config = e.config.text;
          p->second.enabled = e.enabled;
          p->second.version = e.version;
          p->second.updated = stamp;
          place(it->second.chain, e.policy_id, e.index);
          it->second.updated = stamp;
        } else if constexpr (std::is_same_v<T, events::PolicyDetached>) {
          policies_.erase(e.policy_id);
          auto it = apps_.find({e.organization_id, e.application_id});
          if (it == apps_.end()) return;
          std::erase(it->second.chain, e.policy_id);
          it->second.updated = stamp;
        }
      },
      ev);
}

const Application* AppPolicyModel::application(const std::string& organization_id,
                                               const std::string& application_id) const {
  auto it = apps_.find({organization_id, application_id});
  return it == apps_.end() ? nullptr : &it->second;
}

const AttachedPolicy* AppPolicyModel::policy(const std::string& policy_id) const {
  auto it = policies_.find(policy_id);
  return it == policies_.end() ? nullptr : &it->second;
}

std::string AppPolicyModel::organization_of_policy(const std::string& policy_id) const {
  auto it = policy_orgs_.find(policy_id);
  return it == policy_orgs_.end() ? std::string() : it->second;
}

std::vector<const AttachedPolicy*> AppPolicyModel::chain(const Application& app) const {
  std::vector<const AttachedPolicy*> out;
  out.reserve(app.chain.size());
  for (const auto& id : app.chain) {
    if (const auto* p = policy(id)) out.push_back(p);
  }
  return out;
}

std::vector<const Application*> AppPolicyModel::applications_of(const std::string& organization_id) const {
  std::vector<const Application*> out;
  for (auto it = apps_.lower_bound({organization_id, ""}); it != apps_.end() && it->first.first == organization_id;
       ++it) {
    out.push_back(&it->second);
  }
  return out;
}

}  // namespace ledger::domain::app_policy

// Per-application policy chains (seed 002) as state: which applications
// exist, to which organization each belongs, and the ordered chain of
// policies attached to each. Built only from events (PolicyAttached, ...),
// on the command side to decide commands and in the query service to answer
// and evaluate; never from a mutable table.
//
//   AppPolicyModel m;
//   m.apply(event, {position, recorded_at});
//   const auto* app = m.application("org-acme", "app-123");
//   for (const auto& id : app->chain) const auto* p = m.policy(id);
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "events/event.h"

namespace ledger::domain::app_policy {

// Where an event sits in the ledger (zero when unknown, e.g. applied
// tentatively by the writer before its commit).
struct Stamp {
  std::int64_t position = 0;
  events::Instant recorded_at{};
  std::string actor_id = {};
};

struct Application {
  std::string application_id;
  std::string organization_id;
  std::string name;
  bool retired = false;
  std::vector<std::string> chain;  // policy ids in evaluation order
  Stamp registered;
  Stamp updated;
};

struct AttachedPolicy {
  std::string policy_id;
  std::string application_id;
  std::string organization_id;
  std::string policy_type;
  std::string config = "{}";  // canonical JSON text
  bool enabled = true;
  std::int64_t version = 1;  // 1 when attached, +1 per update
  Stamp created;
  Stamp updated;
};

class AppPolicyModel {
 public:
  static bool handles(const events::Event& e);
  void apply(const events::Event& e, const Stamp& stamp = {});

  // Ids are unique per organization.
  const Application* application(const std::string& organization_id, const std::string& application_id) const;
  // Policy ids are unique in the whole ledger; detached policies are gone.
  const AttachedPolicy* policy(const std::string& policy_id) const;
  // How many policies are attached now.
  std::size_t policy_count() const { return policies_.size(); }
  // The organization of a policy id ever attached (detached included), for
  // tenant checks; empty when never seen.
  std::string organization_of_policy(const std::string& policy_id) const;
  bool policy_id_used(const std::string& policy_id) const { return policy_orgs_.contains(policy_id); }
  // The application's chain in order (disabled ones included).
  std::vector<const AttachedPolicy*> chain(const Application& app) const;
  std::vector<const Application*> applications_of(const std::string& organization_id) const;

  // The stream of an application and its policies.
  static std::string stream_of(const std::string& organization_id, const std::string& application_id);

 private:
  std::map<std::pair<std::string, std::string>, Application> apps_;  // by (organization, id)
  std::map<std::string, AttachedPolicy> policies_;                   // attached now
  std::map<std::string, std::string> policy_orgs_;                   // every id ever attached -> organization
};

}  // namespace ledger::domain::app_policy

// Events of plan entitlements (seed 003): capabilities, plans, policies with
// immutable versions, and their activation per environment.
//
// Who is the tenant: a product space (`tenant`, e.g. "default" or
// "analytics") owned by platform admins, so several products can share one
// ledger. Its customers are the organizations of the admission hierarchy;
// the plan an organization is on (OrganizationCreated /
// OrganizationPlanChanged) is the plan the entitlement check reads. Plan ids
// here ARE those plan ids. Every event's envelope tenant is "platform" (the
// product space is platform data); the product space is in the payload.
//
// Streams (one aggregate each; a command appends to exactly one):
//   entitlement-capability:<tenant>/<capability_id>   CapabilityDefined, CapabilityDeprecated, CapabilityRetired
//   entitlement-plan:<tenant>/<plan_id>               PlanDefined, PlanUpdated, PlanArchived
//   entitlement-policy:<tenant>/<policy_id>           EntitlementPolicyCreated, PolicyVersionCreated
//                                                     (version n is stream version n + 1: gap-free)
//   entitlement-version:<tenant>/<version_id>         PolicyVersionArchived
//   entitlement-settings:<tenant>                     EntitlementSettingsChanged
//   entitlement-activation:<tenant>/<policy_id>/<environment>
//                                                     PolicyVersionActivated (its stream version is the
//                                                     activation's sequence number in that environment:
//                                                     the `expected_version` two racing activations of
//                                                     one environment compete for)
//
// Versions are immutable: a PolicyVersionCreated is never changed; an
// activation is a new event that names the version it supersedes in its
// environment (atomic: the same event), and a rollback is a new activation
// of an older version.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace ledger::events {

struct CapabilityDefined {
  static constexpr const char* kType = "CapabilityDefined";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string capability_id;
  std::string name;  // kebab-case, unique per tenant, never renamed
  std::string description;
  friend bool operator==(const CapabilityDefined&, const CapabilityDefined&) = default;
};

// active -> deprecated (still evaluated) -> retired (no longer evaluated).
struct CapabilityDeprecated {
  static constexpr const char* kType = "CapabilityDeprecated";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string capability_id;
  std::string name;
  std::string reason;
  friend bool operator==(const CapabilityDeprecated&, const CapabilityDeprecated&) = default;
};

struct CapabilityRetired {
  static constexpr const char* kType = "CapabilityRetired";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string capability_id;
  std::string name;
  std::string reason;
  friend bool operator==(const CapabilityRetired&, const CapabilityRetired&) = default;
};

struct PlanDefined {
  static constexpr const char* kType = "PlanDefined";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string plan_id;  // the plan id organizations are assigned (organization.change_plan)
  std::string display_name;
  std::string description;
  friend bool operator==(const PlanDefined&, const PlanDefined&) = default;
};

struct PlanUpdated {
  static constexpr const char* kType = "PlanUpdated";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string plan_id;
  std::string before_display_name;
  std::string display_name;
  std::string before_description;
  std::string description;
  friend bool operator==(const PlanUpdated&, const PlanUpdated&) = default;
};

// An archived plan is assigned to no new organization; existing assignments
// and policy mappings stay valid.
struct PlanArchived {
  static constexpr const char* kType = "PlanArchived";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string plan_id;
  std::string reason;
  friend bool operator==(const PlanArchived&, const PlanArchived&) = default;
};

// A policy: the container of the versions of one capability's rules (one
// policy per capability per tenant).
struct EntitlementPolicyCreated {
  static constexpr const char* kType = "EntitlementPolicyCreated";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string policy_id;
  std::string capability_id;
  std::string name;
  std::string description;
  friend bool operator==(const EntitlementPolicyCreated&, const EntitlementPolicyCreated&) = default;
};

// One immutable version: `version` is 1, 2, 3 ... per policy, gap-free.
// Rules: `rules_type` "plan-allowlist" (the only one in MVP).
struct PolicyVersionCreated {
  static constexpr const char* kType = "PolicyVersionCreated";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string policy_id;
  std::string version_id;
  std::int64_t version = 0;
  std::string rules_type;
  std::vector<std::string> allowed_plans;
  std::vector<std::string> deny_overrides;
  std::string changelog;
  std::string created_by;  // the authenticated actor's id
  friend bool operator==(const PolicyVersionCreated&, const PolicyVersionCreated&) = default;
};

// The version became the active one of its policy in `environment`,
// superseding `superseded_version_id` there (empty: none was active).
// `activation_id` is unique per policy.
struct PolicyVersionActivated {
  static constexpr const char* kType = "PolicyVersionActivated";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string policy_id;
  std::string version_id;
  std::int64_t version = 0;
  std::string environment;  // dev | staging | production
  std::string activation_id;
  std::string superseded_version_id;
  std::int64_t superseded_version = 0;  // 0: none
  std::string changelog;
  std::string activated_by;
  // The shadow report a production activation was gated on (issue 15 part
  // 6), as canonical JSON: {generated_at_micros, from, to, snapshot_version,
  // considered, checked, allow_to_deny, deny_to_allow, signature}; empty
  // when the activation was not gated. Omitted from the payload when empty,
  // so activations from before read exactly as they were written.
  std::string shadow = {};
  friend bool operator==(const PolicyVersionActivated&, const PolicyVersionActivated&) = default;
};

// Archived by hand; an archived version can never be activated again. A
// version active in any environment is not archived (activate another first).
struct PolicyVersionArchived {
  static constexpr const char* kType = "PolicyVersionArchived";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string policy_id;
  std::string version_id;
  std::int64_t version = 0;
  std::string reason;
  friend bool operator==(const PolicyVersionArchived&, const PolicyVersionArchived&) = default;
};

// A product space's settings. `require_progression`: a version is activated
// in staging only after it was active in dev, in production only after it
// was active in staging (the seed's recommended dev -> staging -> production).
struct EntitlementSettingsChanged {
  static constexpr const char* kType = "EntitlementSettingsChanged";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  bool before_require_progression = false;
  bool require_progression = false;
  // shadow_required: a production activation needs a signed shadow report
  // at most this old (seconds; 0: not required). Omitted when 0.
  std::int64_t before_shadow_max_age_seconds = 0;
  std::int64_t shadow_max_age_seconds = 0;
  friend bool operator==(const EntitlementSettingsChanged&, const EntitlementSettingsChanged&) = default;
};

template <class T>
inline constexpr bool kIsEntitlementEvent =
    std::is_same_v<T, CapabilityDefined> || std::is_same_v<T, CapabilityDeprecated> ||
    std::is_same_v<T, CapabilityRetired> || std::is_same_v<T, PlanDefined> || std::is_same_v<T, PlanUpdated> ||
    std::is_same_v<T, PlanArchived> || std::is_same_v<T, EntitlementPolicyCreated> ||
    std::is_same_v<T, PolicyVersionCreated> || std::is_same_v<T, PolicyVersionActivated> ||
    std::is_same_v<T, PolicyVersionArchived> || std::is_same_v<T, EntitlementSettingsChanged>;

}  // namespace ledger::events

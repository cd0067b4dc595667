// Events of the admission core (seed 001): registries, the scope hierarchy,
// quota ceilings with delegation, and capacity reservations.
//
// Streams (one aggregate each; a command always appends to exactly one):
//   registry:<kind>:<id>           RegistryEntryRegistered (its version = stream version)
//   organization:<id>              OrganizationCreated, OrganizationPlanChanged
//   department:<id>                DepartmentCreated, DepartmentMoved
//   project:<id>                   ProjectCreated, ProjectMoved
//   principal:<id>                 PrincipalCreated
//   ceilings:<level>:<scope id>    CeilingSet, CeilingCleared, CeilingDelegated, CeilingDelegationRevoked
//   reservation:<org>/<id>         ReservationDrafted, ReservationStateChanged, ReservationConsumed,
//                                  ReservationReleased (ids are unique per organization; a reservation
//                                  drafted before that keeps its stream reservation:<id>)
//
// Every event carries what an auditor needs without reading another one:
// before/after where a value changed, and the full identity of what it is
// about. Quantities are 64-bit integers in the dimension's usage unit.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "events/values.h"

namespace ledger::events {

// The levels of the quota hierarchy (seed 001), broadest first:
// global -> plan -> organization -> department -> project -> principal.
// Departments may nest (a department's parent is its organization or another
// department of the same organization).
enum class QuotaLevel : std::uint8_t { kGlobal, kPlan, kOrganization, kDepartment, kProject, kPrincipal };

inline constexpr const char* kQuotaLevelNames[] = {"global",     "plan",    "organization",
                                                   "department", "project", "principal"};
inline const char* quota_level_name(QuotaLevel l) { return kQuotaLevelNames[static_cast<int>(l)]; }
inline std::optional<QuotaLevel> parse_quota_level(std::string_view name) {
  for (int i = 0; i < 6; ++i) {
    if (name == kQuotaLevelNames[i]) return static_cast<QuotaLevel>(i);
  }
  return std::nullopt;
}

struct QuotaScope {
  QuotaLevel level = QuotaLevel::kGlobal;
  std::string id;  // empty for global
  friend auto operator<=>(const QuotaScope&, const QuotaScope&) = default;
};

// ------------------------------------------------------------- registries

// Registry kinds: product, resource_type, usage_unit, quota_dimension.
// Attributes by kind (strings):
//   product          {}                          (name/description only)
//   resource_type    {product}
//   usage_unit       {}
//   quota_dimension  {product, resource_type, unit}
// Re-registering an entry with new attributes makes a new version.
struct RegistryEntryRegistered {
  static constexpr const char* kType = "RegistryEntryRegistered";
  static constexpr int kSchemaVersion = 1;

  std::string kind;
  std::string entry_id;
  std::int64_t version = 1;
  std::string description;
  std::map<std::string, std::string> attributes;
  std::optional<std::map<std::string, std::string>> before;  // attributes of the previous version
  friend bool operator==(const RegistryEntryRegistered&, const RegistryEntryRegistered&) = default;
};

// -------------------------------------------------------------- hierarchy

// An organization and its default department (created with it, so every
// project always has a department to belong to).
struct OrganizationCreated {
  static constexpr const char* kType = "OrganizationCreated";
  static constexpr int kSchemaVersion = 1;

  std::string organization_id;
  std::string name;
  std::string plan_id;
  std::string default_department_id;
  friend bool operator==(const OrganizationCreated&, const OrganizationCreated&) = default;
};

struct OrganizationPlanChanged {
  static constexpr const char* kType = "OrganizationPlanChanged";
  static constexpr int kSchemaVersion = 1;

  std::string organization_id;
  std::string before_plan_id;
  std::string plan_id;
  friend bool operator==(const OrganizationPlanChanged&, const OrganizationPlanChanged&) = default;
};

struct DepartmentCreated {
  static constexpr const char* kType = "DepartmentCreated";
  static constexpr int kSchemaVersion = 1;

  std::string department_id;
  std::string organization_id;
  std::string parent_department_id;  // empty: directly under the organization
  std::string name;
  friend bool operator==(const DepartmentCreated&, const DepartmentCreated&) = default;
};

struct DepartmentMoved {
  static constexpr const char* kType = "DepartmentMoved";
  static constexpr int kSchemaVersion = 1;

  std::string department_id;
  std::string organization_id;
  std::string before_parent_department_id;
  std::string parent_department_id;  // empty: directly under the organization
  friend bool operator==(const DepartmentMoved&, const DepartmentMoved&) = default;
};

struct ProjectCreated {
  static constexpr const char* kType = "ProjectCreated";
  static constexpr int kSchemaVersion = 1;

  std::string project_id;
  std::string organization_id;
  std::string department_id;
  std::string name;
  friend bool operator==(const ProjectCreated&, const ProjectCreated&) = default;
};

struct ProjectMoved {
  static constexpr const char* kType = "ProjectMoved";
  static constexpr int kSchemaVersion = 1;

  std::string project_id;
  std::string organization_id;
  std::string before_department_id;
  std::string department_id;
  friend bool operator==(const ProjectMoved&, const ProjectMoved&) = default;
};

// A user, service account or API key acting within one project.
struct PrincipalCreated {
  static constexpr const char* kType = "PrincipalCreated";
  static constexpr int kSchemaVersion = 1;

  std::string principal_id;
  std::string principal_type;  // user | service_account | api_key
  std::string organization_id;
  std::string project_id;
  std::string name;
  std::optional<Instant> expires_at;  // API keys and service accounts may expire
  friend bool operator==(const PrincipalCreated&, const PrincipalCreated&) = default;
};

// --------------------------------------------------------------- ceilings

// What a ceiling applies to: a dimension, in a window ("" = a standing
// quantity such as concurrent GPUs; "minute", "hour", "day", "month" = a
// rate; "request" = the most one request may ask for), optionally narrowed
// to one region and/or one SKU or model.
struct CeilingTarget {
  std::string dimension;
  std::string window;
  std::string region;
  std::string sku_or_model;
  friend auto operator<=>(const CeilingTarget&, const CeilingTarget&) = default;
};

// A ceiling was set (or changed) at a scope. `rule_id` names the rule for
// evidence; `rule_version` counts its changes (1 for a new rule).
struct CeilingSet {
  static constexpr const char* kType = "CeilingSet";
  static constexpr int kSchemaVersion = 1;

  QuotaScope scope;
  std::string organization_id;  // empty for global and plan scopes
  std::string rule_id;
  std::int64_t rule_version = 1;
  CeilingTarget target;
  std::int64_t quantity = 0;
  std::string unit;
  std::optional<std::int64_t> before_quantity;  // the rule's previous quantity
  std::string reason;
  friend bool operator==(const CeilingSet&, const CeilingSet&) = default;
};

struct CeilingCleared {
  static constexpr const char* kType = "CeilingCleared";
  static constexpr int kSchemaVersion = 1;

  QuotaScope scope;
  std::string organization_id;
  std::string rule_id;
  std::int64_t rule_version = 1;  // the version the clearing makes
  CeilingTarget target;
  std::int64_t before_quantity = 0;
  std::string unit;
  std::string reason;
  friend bool operator==(const CeilingCleared&, const CeilingCleared&) = default;
};

// The scope delegated authority over a dimension to the scopes below it:
// their own ceilings may exceed this scope's (never `max_quantity`, when
// set, nor anything above this scope).
struct CeilingDelegated {
  static constexpr const char* kType = "CeilingDelegated";
  static constexpr int kSchemaVersion = 1;

  QuotaScope scope;
  std::string organization_id;
  std::string delegation_id;
  std::string dimension;
  std::optional<std::int64_t> max_quantity;
  std::string reason;
  friend bool operator==(const CeilingDelegated&, const CeilingDelegated&) = default;
};

struct CeilingDelegationRevoked {
  static constexpr const char* kType = "CeilingDelegationRevoked";
  static constexpr int kSchemaVersion = 1;

  QuotaScope scope;
  std::string organization_id;
  std::string delegation_id;
  std::string dimension;
  std::string reason;
  friend bool operator==(const CeilingDelegationRevoked&, const CeilingDelegationRevoked&) = default;
};

// ----------------------------------------------------------- reservations

// Reservation kinds and their attributes (strings):
//   gpu_nodes      {sku, region}                      quantity = node count
//   app_runtime    {runtime_class, region}            quantity = concurrency
//   model_serving  {model_family, endpoint_class}     quantity = TPM, RPM or concurrency (the dimension's unit)
//   storage        {provider, tier}                   quantity = bytes
struct ReservationDrafted {
  static constexpr const char* kType = "ReservationDrafted";
  static constexpr int kSchemaVersion = 1;

  std::string reservation_id;
  std::string organization_id;
  QuotaScope owner;  // organization, department, project or principal
  std::string kind;
  std::string dimension;
  std::string region;
  std::string sku_or_model;
  std::int64_t quantity = 0;
  std::string unit;
  Instant window_start;
  Instant window_end;  // exclusive
  std::map<std::string, std::string> attributes;
  std::string reason;
  friend bool operator==(const ReservationDrafted&, const ReservationDrafted&) = default;
};

// Lifecycle states: draft, active, exhausted, expired, suspended, retired.
struct ReservationStateChanged {
  static constexpr const char* kType = "ReservationStateChanged";
  static constexpr int kSchemaVersion = 1;

  std::string reservation_id;
  std::string organization_id;
  std::string before_state;
  std::string state;
  std::string reason;
  friend bool operator==(const ReservationStateChanged&, const ReservationStateChanged&) = default;
};

// Capacity taken from (consumed) or given back to (released) an active
// reservation. A consumption that uses the last unit is followed by a
// ReservationStateChanged to `exhausted`; a release from exhausted by one
// back to `active`.
struct ReservationConsumed {
  static constexpr const char* kType = "ReservationConsumed";
  static constexpr int kSchemaVersion = 1;

  std::string reservation_id;
  std::string organization_id;
  std::int64_t quantity = 0;
  std::int64_t before_consumed = 0;
  std::int64_t consumed = 0;
  std::string reason;
  friend bool operator==(const ReservationConsumed&, const ReservationConsumed&) = default;
};

struct ReservationReleased {
  static constexpr const char* kType = "ReservationReleased";
  static constexpr int kSchemaVersion = 1;

  std::string reservation_id;
  std::string organization_id;
  std::int64_t quantity = 0;
  std::int64_t before_consumed = 0;
  std::int64_t consumed = 0;
  std::string reason;
  friend bool operator==(const ReservationReleased&, const ReservationReleased&) = default;
};

}  // namespace ledger::events

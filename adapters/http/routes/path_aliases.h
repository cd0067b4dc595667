// One path per route, and the seeds' own paths kept as aliases.
//
// The ledger's routes live under /v1. Seeds 000 and 002 published their
// admin routes under /api/v1/admin/..., and seed 004 its configuration routes
// at the root (/tenants/..., /config/...); clients written against a seed
// keep working:
//
//   /api/v1/admin/policy-values      -> /v1/policy-values
//   /api/v1/admin/policy-keys        -> /v1/policy-keys
//   /api/v1/admin/applications[/..]  -> /v1/applications[/..]
//   /api/v1/admin/policies[/..]      -> /v1/app-policies[/..]  (/v1/policies is seed 003's)
//   /v1/tenants/.., /v1/config/..    -> /tenants/.., /config/..  (seed 004's paths stay the routes)
//
// Both services rewrite the path once, before the role table, the routes,
// the refusal records and the access log see it (services::with_health).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ledger::routes {

// The route's own path for an alias, or nullopt when `path` is no alias.
// Only whole segments match (/api/v1/admin/policy-valuesX is no alias).
std::optional<std::string> canonical_path(std::string_view path);

}  // namespace ledger::routes

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
// and in query strings seed 000's `org_id` is the alias of `organization_id`,
// the ledger's name for an organization in every query string and body.
//
// Each API rewrites a request on entry, before the role table, the routes,
// the refusal records and the access log see it (QueryApi::handle,
// CommandApi::handle, CelApi::handle).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http/http_types.h"

namespace ledger::routes {

// The route's own path for an alias, or nullopt when `path` is no alias.
// Only whole segments match (/api/v1/admin/policy-valuesX is no alias).
std::optional<std::string> canonical_path(std::string_view path);

using QueryPairs = std::vector<std::pair<std::string, std::string>>;
// The query with `org_id` renamed to `organization_id`, or nullopt when it
// has no alias. A query naming both is left as it is (the route refuses
// `org_id`, 400 `unknown_parameter`: one name per organization).
std::optional<QueryPairs> canonical_query(const QueryPairs& query);

// The request with both rewrites applied, or nullopt when it needs neither.
std::optional<adapters::http::HttpRequest> canonical_request(const adapters::http::HttpRequest& req);

}  // namespace ledger::routes

// The command service's entitlement routes in the seed's REST shape (seed
// 003), translated into entitlement commands (commands/decode_entitlements.h)
// and answered in the seed's response shapes. CommandApi::handle runs them
// through the same path as POST /v1/commands/{type} (authentication, gate,
// role check: `entitlement.write`, platform_admin only; idempotency by
// command_id / Idempotency-Key):
//
//   POST /v1/capabilities                               capability.define       -> {capability: {id, name, status,
//   createdAt}} POST /v1/capabilities/{id}:deprecate                capability.deprecate    -> {capability: {id,
//   status}} POST /v1/capabilities/{id}:retire                   capability.retire       -> {capability: {id, status}}
//   POST /v1/plans                                      plan.define             -> {plan: {id, name, status,
//   createdAt}} POST /v1/plans/{id}:update                          plan.update             -> {plan: {id}} POST
//   /v1/plans/{id}:archive                         plan.archive            -> {plan: {id, status}} POST /v1/policies
//   policy.create           -> {policy: {id, capabilityId, currentVersion: {id, version, status}}} POST
//   /v1/policies/{policyId}/versions               policy.create_version   -> {version: {id, version, status}} POST
//   /v1/policies/{policyId}/versions/{versionId}/activate
//                                                       policy.activate         -> {activation: {policyVersionId,
//                                                       environment,
//                                                                                   activatedAt, status, activationId,
//                                                                                   activationVersion}}
//   POST /v1/policies/{policyId}/versions/{versionId}:archive
//                                                       policy.archive_version  -> {version: {id, status}}
//
// Path ids go into the command body; `?tenant=` (or a body `tenant`) names
// the product space, default "default". Every answer also carries the
// command service's fields (command_id, position, stream_version,
// duplicate, no_change): `position` is the read-your-writes token for the
// query service. Times in these answers (createdAt, activatedAt) are the
// command edge's clock when the command was accepted; the event's
// recorded_at (in the reads and the audit view) is authoritative.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "adapters/http/http_types.h"
#include "commands/command_service.h"
#include "domain/error.h"

namespace ledger::routes {

struct EntitlementRoute {
  std::string type;  // the command type
  std::string body;  // the command body: the request's, with the path ids (and tenant) in it
  // The seed-shaped answer of an accepted command.
  std::function<std::string(const commands::Accepted&, events::Instant accepted_at)> answer;
};

// nullopt: not an entitlement route; an error: its path is malformed or the
// body is not a JSON object.
std::optional<domain::Result<EntitlementRoute>> entitlement_route(const adapters::http::HttpRequest& req);

}  // namespace ledger::routes

// Events of access control (issue 5): refused attempts, kept as audit facts;
// revoked credentials (issue 10, item 8).
//
// Stream: access-refusals:<target tenant>   AccessRefused
//         token-revocations:<tenant>        TokenRevoked
//
// Every request the ledger refuses because the principal's roles do not
// allow the route, or because it reaches into another organization, becomes
// an AccessRefused event (invariant 7: refused AND audited). The envelope's
// tenant is the organization that was reached for (`target_tenant`), so that
// organization's auditors see the attempt, and the envelope's actor is the
// refused principal, so the audit row says who tried. No token, secret or
// query string is ever part of it: `target` is a path without its query, or
// a command type.
#pragma once

#include <string>
#include <vector>

namespace ledger::events {

struct AccessRefused {
  static constexpr const char* kType = "AccessRefused";
  static constexpr int kSchemaVersion = 1;

  std::string actor_type;  // the refused principal
  std::string actor_id;
  std::vector<std::string> actor_roles;
  std::string principal_tenant;  // the organization (or "platform") it acts for
  std::string target_tenant;     // the organization it reached for (or "platform")
  std::string route_family;      // commands/access/authorization.h, e.g. "ceiling.write"
  std::string method;            // GET, POST, or KAFKA for ledger.commands
  std::string target;            // path without query, or the command type
  std::string reason;            // `role_not_allowed`, `tenant_mismatch` or `platform_only_key`
  friend bool operator==(const AccessRefused&, const AccessRefused&) = default;
};

// A credential the ledger no longer accepts, from now on: every token of a
// principal (`principal_id`: the token's `sub` within the tenant) or one JWT
// (`token_id`: its `jti`). Exactly one of the two is set. The envelope's
// tenant is `tenant` (an organization id or "platform"), the principal's.
struct TokenRevoked {
  static constexpr const char* kType = "TokenRevoked";
  static constexpr int kSchemaVersion = 1;

  std::string tenant;
  std::string principal_id;  // "" when a single token is revoked
  std::string token_id;      // "" when the principal is revoked
  std::string reason;
  friend bool operator==(const TokenRevoked&, const TokenRevoked&) = default;
};

}  // namespace ledger::events

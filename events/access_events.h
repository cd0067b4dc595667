// Events of access control (issue 5): refused attempts, kept as audit facts.
//
// Stream: access-refusals:<target tenant>   AccessRefused
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

  std::string actor_type;               // the refused principal
  std::string actor_id;
  std::vector<std::string> actor_roles;
  std::string principal_tenant;         // the organization (or "platform") it acts for
  std::string target_tenant;            // the organization it reached for (or "platform")
  std::string route_family;             // commands/authorization.h, e.g. "ceiling.write"
  std::string method;                   // GET, POST, or KAFKA for ledger.commands
  std::string target;                   // path without query, or the command type
  std::string reason;                   // `role_not_allowed`, `tenant_mismatch` or `platform_only_key`
  friend bool operator==(const AccessRefused&, const AccessRefused&) = default;
};

}  // namespace ledger::events

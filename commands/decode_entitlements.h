// Decoding of the plan-entitlement commands (seed 003; domain/entitlements/).
//
// Command types and bodies (the same JSON over HTTP and on `ledger.commands`;
// `tenant` is the product space, default "default"; field names follow the
// seed's API where it names them):
//   capability.define        {tenant?, name, description?, id?}
//   capability.deprecate     {tenant?, capability_id, reason?}
//   capability.retire        {tenant?, capability_id, reason?}
//   plan.define              {tenant?, name, displayName?, description?}   (name = the plan id)
//   plan.update              {tenant?, plan_id, displayName?, description?}
//   plan.archive             {tenant?, plan_id, reason?}
//   policy.create            {tenant?, capabilityId, name, description?, rules, changelog?, id?}
//   policy.create_version    {tenant?, policy_id, rules, changelog}
//   policy.activate          {tenant?, policy_id, version_id, environment, changelog}
//   policy.archive_version   {tenant?, policy_id, version_id, reason?}
//   entitlements.configure   {tenant?, require_progression: bool}
// rules = {type: "plan-allowlist", allowedPlans: [plan...], denyOverrides?: [plan...]}.
// Unknown fields are refused (`unknown_field`); every failure is 400 with a
// stable code (`missing_field`, `invalid_field`, `invalid_rules`).
#pragma once

#include <optional>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "commands/command.h"
#include "domain/error.h"

namespace ledger::commands {

// nullopt when `type` is not an entitlement command type.
std::optional<domain::Result<Command>> decode_entitlement_command(std::string_view type, const nlohmann::json& body);

}  // namespace ledger::commands

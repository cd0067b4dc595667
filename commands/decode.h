// Decoding and validating command bodies (JSON) into commands.
//
//   auto doc = parse_json_document(body);          // size, UTF-8, depth, syntax
//   auto cmd = decode_command("policy_value.set", *doc);
//
// Command types (the same JSON over HTTP and on `ledger.commands`):
//   policy_key.define  {key, value_type: int|string|bool, default, min?, max?, enum?, description?,
//                       write_audience?: platform|tenant (default: codec::implied_write_audience)}
//   policy_value.set   {key, scope: {user_id|project_id|org_id|plan}?, value,
//                       effective_at?, reason, old_value?}
// Admission commands (domain/admission.h; scopes are {level, id}, quantities
// non-negative JSON integers, `invalid_quantity` otherwise):
//   registry.register         {kind, entry_id, description?, attributes?}
//   organization.create       {organization_id, plan_id, name?, default_department_id?}
//   organization.change_plan  {organization_id, plan_id}
//   department.create         {department_id, organization_id, parent_department_id?, name?}
//   department.move           {department_id, parent_department_id?}
//   project.create            {project_id, organization_id, department_id?, name?}
//   project.move              {project_id, department_id}
//   principal.create          {principal_id, principal_type, project_id, name?, expires_at?}
//   ceiling.set               {scope, dimension, window?, region?, sku_or_model?, quantity, unit?, reason}
//   ceiling.clear             {scope, dimension, window?, region?, sku_or_model?, reason}
//   ceiling.delegate          {scope, dimension, max_quantity?, reason}
//   ceiling.revoke_delegation {scope, dimension, reason}
//   reservation.draft         {reservation_id, owner, kind, dimension, region?, sku_or_model?, quantity,
//                              unit?, window_start, window_end, attributes?, reason?}
//   reservation.activate | suspend | resume | retire | expire  {reservation_id, organization_id?, reason?}
//   reservation.consume | release  {reservation_id, organization_id?, quantity, reason?}
//     (reservation ids are unique per organization: a tenant's command is
//     resolved within its own organization; a platform principal names it)
// Access control (domain/access/access_refusal.h; the query service reports the
// requests it refused with it):
//   access.record_refusal     {actor_type, actor_id, actor_roles?, principal_tenant, target_tenant,
//                              route_family, method, target, reason: role_not_allowed|tenant_mismatch}
//   token.revoke              {tenant, principal_id? | token_id?, reason}  (exactly one of the two)
// Per-application policy chains (seed 002; domain/app_policy/commands.h):
//   application.register | rename  {application_id, organization_id?, name}
//   application.retire             {application_id, organization_id?, reason?}
//   app_policy.attach              {application_id, organization_id?, policy_type, config, enabled?, index?, reason?}
//   app_policy.update              {policy_id, config?, enabled?, index?, reason?}
//   app_policy.detach              {policy_id, reason?}
// All also accept `command_id` and `expected_version`. Unknown fields are
// refused (`unknown_field`) so a typo never silently drops a setting.
// Failures are kInvalidArgument (HTTP 400) with a stable code: `invalid_utf8`,
// `malformed_json`, `too_deep`, `duplicate_key`, `nul_character` (a string or
// key holding U+0000, which the event store could never keep; evidence
// `field` is its path, e.g. "/scope/org_id"), `missing_field`, `invalid_field`
// (also a command_id with control characters),
// `unknown_field`, `invalid_scope`, `unknown_command_type`; except
// `body_too_large` (kPayloadTooLarge, 413) and a value that is no bool,
// 64-bit integer or string: `value_type_mismatch` (kFailedPrecondition, 422,
// as the domain reports a value of the wrong type for its key).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "commands/command.h"
#include "domain/error.h"

namespace ledger::commands {

inline constexpr std::size_t kMaxBodyBytes = 1 << 20;  // 1 MiB
inline constexpr int kMaxJsonDepth = 32;

// Every command type above, once. decode_command refuses any other type
// (`unknown_command_type`), so this list is the whole command surface: the
// role table (commands/access/authorization.h) is checked against it.
inline constexpr std::string_view kCommandTypes[] = {
    "policy_key.define", "policy_value.set", "registry.register", "organization.create", "organization.change_plan",
    "department.create", "department.move", "project.create", "project.move", "principal.create", "ceiling.set",
    "ceiling.clear", "ceiling.delegate", "ceiling.revoke_delegation", "reservation.draft", "reservation.activate",
    "reservation.suspend", "reservation.resume", "reservation.retire", "reservation.expire", "reservation.consume",
    "reservation.release", "access.record_refusal", "token.revoke", "application.register", "application.rename",
    "application.retire", "app_policy.attach", "app_policy.update", "app_policy.detach",
    // plan entitlements (commands/decode_entitlements.h)
    "capability.define", "capability.deprecate", "capability.retire", "plan.define", "plan.update", "plan.archive",
    "policy.create", "policy.create_version", "policy.activate", "policy.archive_version", "entitlements.configure",
    // layered configuration (commands/decode_config.cc)
    "config.global.set", "config.service_type.set", "config.tenant_risk.set", "config.agent.set", "config.project.set",
    "config.service.set", "config.reload", "config.secrets.shred"};

bool valid_utf8(std::string_view s);

// The refusal of a body field nobody reads: kInvalidArgument
// `unknown_field`, "unknown field '<key>'", evidence `field`. Every decoder
// and route refuses with it, so a misspelt field is never silently ignored
// and reads the same everywhere.
domain::Error unknown_field(const std::string& key);
// unknown_field() for the first member of `body` (an object; key order) not
// in `allowed`.
domain::Result<void> only_fields(const nlohmann::json& body, std::initializer_list<std::string_view> allowed);
domain::Result<nlohmann::json> parse_json_document(std::string_view body);

// A decoded command with its optional idempotency and concurrency fields.
struct DecodedCommand {
  Command command;
  std::string command_id;  // empty: the caller assigns one
  std::optional<events::StreamVersion> expected_version;
  std::string request_hash = {};  // commands/idempotency.h
};

domain::Result<DecodedCommand> decode_command(std::string_view type, const nlohmann::json& body);
// The admission part of decode_command: nullopt when `type` is not one.
std::optional<domain::Result<Command>> decode_admission_command(std::string_view type, const nlohmann::json& body);
// The per-application policy chain part (commands/decode_app_policy.cc).
std::optional<domain::Result<Command>> decode_app_policy_command(std::string_view type, const nlohmann::json& body);
// The configuration part (commands/decode_config.cc): nullopt when `type` is not one.
std::optional<domain::Result<Command>> decode_config_command(std::string_view type, const nlohmann::json& body);

}  // namespace ledger::commands

// Decoding and validating command bodies (JSON) into commands.
//
//   auto doc = parse_json_document(body);          // size, UTF-8, depth, syntax
//   auto cmd = decode_command("policy_value.set", *doc);
//
// Command types (the same JSON over HTTP and on `ledger.commands`):
//   policy_key.define  {key, value_type: int|string|bool, default, min?, max?, enum?, description?}
//   policy_value.set   {key, scope: {user_id|project_id|org_id|plan}?, value,
//                       effective_at?, reason, old_value?}
// Both also accept `command_id` and `expected_version`. Unknown fields are
// refused (`unknown_field`) so a typo never silently drops a setting.
// Failures are kInvalidArgument (HTTP 400) with a stable code: `invalid_utf8`,
// `malformed_json`, `too_deep`, `duplicate_key`, `missing_field`, `invalid_field`,
// `unknown_field`, `invalid_scope`, `unknown_command_type`; except
// `body_too_large` (kPayloadTooLarge, 413) and a value that is no bool,
// 64-bit integer or string: `value_type_mismatch` (kFailedPrecondition, 422,
// as the domain reports a value of the wrong type for its key).
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "commands/command.h"
#include "domain/error.h"

namespace ledger::commands {

inline constexpr std::size_t kMaxBodyBytes = 1 << 20;  // 1 MiB
inline constexpr int kMaxJsonDepth = 32;

bool valid_utf8(std::string_view s);
domain::Result<nlohmann::json> parse_json_document(std::string_view body);

// A decoded command with its optional idempotency and concurrency fields.
struct DecodedCommand {
  Command command;
  std::string command_id;                        // empty: the caller assigns one
  std::optional<std::int64_t> expected_version;
};

domain::Result<DecodedCommand> decode_command(std::string_view type, const nlohmann::json& body);

}  // namespace ledger::commands

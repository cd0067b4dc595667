// What the `ledger.commands` consumer can tell from one record on its own,
// before any principal, rate limit or store is involved: the command it
// carries, or why it cannot be handled at all.
//
//   RecordView view{m.topic, m.partition, m.offset, m.key, m.value, m.headers};
//   RecordRead read = read_command_record(view);
//   if (read.refused) { /* reject under read.result_key, dead-letter the record */ }
//   else              { /* authenticate, authorize, submit read.command */ }
//
// A record is read as: the JSON body (decode.h: size, UTF-8, NUL, depth,
// syntax), its `type` (default `policy_value.set`), its command id (the
// body's `command_id`, else the record key), the `correlation-id` header
// (edge_values.h) and the decoded command. Every check is made on the bytes
// as they came; nothing here throws.
//
// `result_key` is where the outcome is answered on `ledger.command-results`:
// the command id when the record has a valid one, else
// record_result_key(topic, partition, offset). It is set in both cases.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "commands/decode.h"
#include "domain/error.h"

namespace ledger::commands {

// The record header that carries a correlation id.
inline constexpr std::string_view kCorrelationHeader = "correlation-id";

struct RecordView {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string_view key;
  std::string_view value;
  std::span<const std::pair<std::string, std::string>> headers;
};

struct RecordRead {
  std::string result_key;
  std::string command_id;                 // valid and non-empty unless refused before it was known
  std::string type;                       // the command type asked for
  std::string correlation_id;             // "" when the record names none
  std::optional<DecodedCommand> command;  // set unless refused
  std::optional<domain::Error> refused;   // a stable code: the record cannot be handled
};

RecordRead read_command_record(const RecordView& record);

}  // namespace ledger::commands

// Values that reach the ledger from outside a command body: HTTP header
// values (`X-Correlation-Id`, `Idempotency-Key`) and the key and headers of a
// `ledger.commands` record (`correlation-id`). They end up in events
// (correlation_id, command_id), in JSON answers and in logs, so each one is
// checked here before it is used: a value that cannot be stored, dumped as
// JSON or logged as text is refused, never passed on.
//
//   auto corr = header_id("x-correlation-id", req.header("x-correlation-id"));
//   if (!corr) return error_response(corr.error());  // 400 invalid_header
//   request.meta.correlation_id = *corr;              // "" when absent
//
// A refusal never repeats the value (it may be anything, a secret included):
// its evidence names only the header (`header`) or the record field.
// Pure functions, no I/O; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "domain/error.h"

namespace ledger::commands {

// The longest id taken from a header or a record key (as a body's command_id).
inline constexpr std::size_t kMaxEdgeIdBytes = 128;

// True when `s` is valid UTF-8 (decode.h's valid_utf8) and holds no control
// character: no U+0000..U+001F and no U+007F. Such text can be stored in a
// PostgreSQL text or jsonb column, dumped as JSON and written to a log line.
bool printable_text(std::string_view s);

// An id-like header value: absent (null) or empty -> "" (the caller picks a
// default); else 1..kMaxEdgeIdBytes bytes of printable_text, returned as is.
// Anything else -> kInvalidArgument `invalid_header`, evidence `header`
// (the name as given, lower case).
domain::Result<std::string> header_id(std::string_view header, const std::string* value);

// The key of a `ledger.commands` record, which stands in for a command_id the
// body does not carry: empty -> ""; else as header_id, refused with
// kInvalidArgument `invalid_key`.
domain::Result<std::string> record_key_id(std::string_view key);

// Where the outcome of a record that carries no usable command id is
// answered on `ledger.command-results`: "<topic>:<partition>:<offset>".
std::string record_result_key(std::string_view topic, std::int32_t partition, std::int64_t offset);

}  // namespace ledger::commands

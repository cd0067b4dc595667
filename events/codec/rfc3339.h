// RFC 3339 timestamps <-> Instant.
//
//   format(Instant{0})            == "1970-01-01T00:00:00.000000Z"
//   parse("2026-06-01T00:00:00Z") -> Instant
//
// Output is always UTC with exactly six fractional digits, so it is canonical
// (the hash chain depends on it). Input accepts 'Z' or a numeric offset and up
// to nine fractional digits (digits past the microsecond are dropped).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "events/values.h"

namespace ledger::codec {

std::string format_instant(events::Instant t);
std::optional<events::Instant> parse_instant(std::string_view text);

}  // namespace ledger::codec

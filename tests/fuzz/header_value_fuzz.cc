// libFuzzer target: header values as the HTTP edges take them
// (commands/edge_values.h). Arbitrary bytes as an `X-Correlation-Id` or
// `Idempotency-Key` value and as a `ledger.commands` record key: a value is
// either refused with `invalid_header` / `invalid_key` naming the header and
// never the value, or accepted as text that can be stored, dumped as JSON
// (strict, no replacement) and logged. It must never crash, leak, throw or
// trip UBSan.
//
//   scripts/fuzz.sh            (builds the `fuzz` targets of the `sanitize` preset, runs each)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "commands/decode.h"
#include "commands/edge_values.h"

namespace {

void check_accepted(const std::string& value) {
  if (value.size() > ledger::commands::kMaxEdgeIdBytes) std::abort();
  if (!ledger::commands::printable_text(value) || !ledger::commands::valid_utf8(value)) std::abort();
  for (const char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) std::abort();
  }
  // What an event, an answer and a log line do with it: must not throw.
  const std::string dumped = nlohmann::json{{"correlation_id", value}}.dump();
  if (dumped.empty()) std::abort();
}

void check_refused(const ledger::domain::Error& e, std::string_view code, const std::string& value) {
  if (e.code != code || e.kind != ledger::domain::ErrorKind::kInvalidArgument) std::abort();
  // The refusal itself is always printable, and never carries the value.
  const std::string dumped = nlohmann::json{{"code", e.code}, {"message", e.message}}.dump();
  if (dumped.empty()) std::abort();
  for (const auto& [k, v] : e.evidence_texts()) {
    if (!value.empty() && v == value) std::abort();
    (void)nlohmann::json{{k, v}}.dump();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string value(reinterpret_cast<const char*>(data), size);
  for (const char* header : {"x-correlation-id", "idempotency-key"}) {
    auto r = ledger::commands::header_id(header, &value);
    if (r) {
      if (!value.empty() && *r != value) std::abort();
      if (!r->empty()) check_accepted(*r);
    } else {
      if (value.empty()) std::abort();  // absent or empty is never refused
      check_refused(r.error(), "invalid_header", value);
    }
  }
  auto key = ledger::commands::record_key_id(value);
  if (key) {
    if (!key->empty()) check_accepted(*key);
  } else {
    check_refused(key.error(), "invalid_key", value);
  }
  return 0;
}

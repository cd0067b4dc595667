// libFuzzer target: one `ledger.commands` record read on its own
// (commands/command_record.h), with arbitrary bytes as its key, its headers
// (`correlation-id`, `authorization` and others) and its value. The input is
// split as: 1 byte key length, key, 1 byte header count (low 2 bits), then
// per header 1 byte selector + 1 byte length + value, the rest is the body.
// Every record must come out either refused with a stable code or read with
// a valid command id and correlation id; its result key and the rejection
// (what goes on `ledger.command-results`) must dump as strict JSON. It must
// never crash, leak, throw or trip UBSan.
//
//   scripts/fuzz.sh            (builds the `fuzz` targets of the `sanitize` preset, runs each)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands/command_record.h"
#include "commands/edge_values.h"
#include "domain/error_json.h"

namespace {

struct Input {
  std::string_view rest;
  std::string take(std::size_t n) {
    n = std::min(n, rest.size());
    std::string out(rest.substr(0, n));
    rest.remove_prefix(n);
    return out;
  }
  std::uint8_t byte() {
    if (rest.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(rest.front());
    rest.remove_prefix(1);
    return b;
  }
};

constexpr const char* kHeaderNames[] = {"correlation-id", "authorization", "idempotency-key", "correlation-id "};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{std::string_view(reinterpret_cast<const char*>(data), size)};
  const std::string key = in.take(in.byte());
  std::vector<std::pair<std::string, std::string>> headers;
  for (int n = in.byte() & 3; n > 0; --n) {
    const std::uint8_t which = in.byte();
    headers.emplace_back(kHeaderNames[which & 3], in.take(in.byte()));
  }
  const std::string value(in.rest);

  auto read = ledger::commands::read_command_record({"ledger.commands", 2, 99, key, value, headers});
  if (read.result_key.empty() || !ledger::commands::printable_text(read.result_key)) std::abort();
  if (read.refused) {
    if (read.refused->code.empty() || read.command) std::abort();
    // The rejection as the consumer answers it: strict dump must not throw.
    nlohmann::json j = {{"status", "rejected"},
                        {"command_id", read.command_id},
                        {"code", read.refused->code},
                        {"message", read.refused->message}};
    if (!read.refused->evidence.empty()) j["evidence"] = ledger::domain::evidence_json(*read.refused);
    (void)j.dump();
  } else {
    if (!read.command || read.command_id.empty() || read.command->command_id != read.command_id) std::abort();
    if (read.result_key != read.command_id) std::abort();
    if (!ledger::commands::printable_text(read.command_id)) std::abort();
    if (read.command_id.size() > ledger::commands::kMaxEdgeIdBytes) std::abort();
    if (!ledger::commands::printable_text(read.correlation_id)) std::abort();
    (void)nlohmann::json{{"command_id", read.command_id}, {"correlation_id", read.correlation_id}}.dump();
  }
  return 0;
}

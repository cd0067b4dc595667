// libFuzzer target: the command decoder (commands/decode.h) on arbitrary
// bytes, exactly as an HTTP body or a `ledger.commands` record reaches it:
// parse_json_document (size, UTF-8, depth, duplicate keys, syntax), then
// decode_command with the body's own `type`, or with every known type when
// the body names none. It must never crash, leak, throw or trip UBSan; a
// decoded command must come with a sane result.
//
//   scripts/fuzz.sh            (builds the `fuzz` targets of the `sanitize` preset, runs each)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "commands/decode.h"

namespace {

// Every type decode.h documents; a body with its own "type" is decoded as
// that type (which is how the fuzzer reaches ones missing here).
constexpr std::string_view kKnownTypes[] = {
    "policy_value.set",
    "policy_key.define",
    "registry.register",
    "organization.create",
    "organization.change_plan",
    "department.create",
    "department.move",
    "project.create",
    "project.move",
    "principal.create",
    "ceiling.set",
    "ceiling.clear",
    "ceiling.delegate",
    "ceiling.revoke_delegation",
    "reservation.draft",
    "reservation.activate",
    "reservation.suspend",
    "reservation.resume",
    "reservation.retire",
    "reservation.expire",
    "reservation.consume",
    "reservation.release",
};

void decode_as(std::string_view type, const nlohmann::json& doc) {
  auto decoded = ledger::commands::decode_command(type, doc);
  if (decoded) {
    // Accepted commands carry what decode.h promises.
    if (decoded->expected_version && decoded->expected_version->value < 0) std::abort();
    if (decoded->command_id.size() > 128) std::abort();
  } else if (decoded.error().code.empty()) {
    std::abort();  // every refusal has a stable code
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto doc = ledger::commands::parse_json_document(body);
  if (!doc) {
    if (doc.error().code.empty()) std::abort();
    return 0;
  }
  if (!doc->is_object()) std::abort();  // parse_json_document promises an object
  auto type = doc->find("type");
  if (type != doc->end() && type->is_string()) {
    decode_as(type->get_ref<const std::string&>(), *doc);
  } else {
    for (auto t : kKnownTypes) decode_as(t, *doc);
  }
  return 0;
}

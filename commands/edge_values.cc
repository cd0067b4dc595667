#include "commands/edge_values.h"

#include "commands/decode.h"

namespace ledger::commands {
namespace {

domain::Error refused(std::string code, std::string message) {
  return domain::Error{domain::ErrorKind::kInvalidArgument, std::move(code), std::move(message), {}};
}

bool acceptable_id(std::string_view v) { return v.size() <= kMaxEdgeIdBytes && printable_text(v); }

}  // namespace

bool printable_text(std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) return false;
  }
  return valid_utf8(s);
}

domain::Result<std::string> header_id(std::string_view header, const std::string* value) {
  if (value == nullptr || value->empty()) return std::string();
  if (acceptable_id(*value)) return *value;
  domain::Error e =
      refused("invalid_header", "header '" + std::string(header) + "' must be 1 to " + std::to_string(kMaxEdgeIdBytes) +
                                    " bytes of UTF-8 text without control characters");
  e.with("header", std::string(header));
  return std::unexpected(std::move(e));
}

domain::Result<std::string> record_key_id(std::string_view key) {
  if (key.empty()) return std::string();
  if (acceptable_id(key)) return std::string(key);
  return std::unexpected(refused("invalid_key", "the record key must be 1 to " + std::to_string(kMaxEdgeIdBytes) +
                                                    " bytes of UTF-8 text without control characters"));
}

std::string record_result_key(std::string_view topic, std::int32_t partition, std::int64_t offset) {
  return std::string(topic) + ":" + std::to_string(partition) + ":" + std::to_string(offset);
}

}  // namespace ledger::commands

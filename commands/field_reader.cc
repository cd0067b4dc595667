#include "commands/field_reader.h"

#include "commands/decode.h"

namespace ledger::commands {

FieldReader::FieldReader(const nlohmann::json& body) : body_(body) {
  for (const char* k : {"type", "command_id", "expected_version"}) known_.insert(k);
}

const nlohmann::json* FieldReader::find(const std::string& name) {
  known_.insert(name);
  auto it = body_.find(name);
  if (it == body_.end() || it->is_null()) return nullptr;
  return &*it;
}

void FieldReader::fail(std::string code, std::string message, std::string field) {
  if (failed()) return;
  code_ = std::move(code);
  message_ = std::move(message);
  field_ = std::move(field);
}

domain::Result<void> FieldReader::finish() {
  if (!failed()) {
    for (auto it = body_.begin(); it != body_.end(); ++it) {
      if (!known_.contains(it.key())) return std::unexpected(unknown_field(it.key()));
    }
    return {};
  }
  domain::Error e{domain::ErrorKind::kInvalidArgument, code_, message_, {}};
  e.with("field", field_);
  return std::unexpected(std::move(e));
}

}  // namespace ledger::commands

#include "commands/command_record.h"

#include <nlohmann/json.hpp>

#include "commands/edge_values.h"

namespace ledger::commands {

RecordRead read_command_record(const RecordView& record) {
  RecordRead out;
  out.result_key = record_result_key(record.topic, record.partition, record.offset);
  auto refuse = [&](domain::Error e) {
    out.refused = std::move(e);
    return std::move(out);
  };
  // The key first: it is the only id a body that cannot be read leaves.
  auto key = record_key_id(record.key);
  if (key && !key->empty()) out.result_key = out.command_id = *key;

  // The body's id wins over the key (decode_command checks it again).
  auto take_body_id = [&](const nlohmann::json& body) {
    if (auto it = body.find("command_id"); it != body.end() && it->is_string()) {
      const auto& id = it->get_ref<const std::string&>();
      if (!id.empty() && id.size() <= kMaxEdgeIdBytes && printable_text(id)) out.result_key = out.command_id = id;
    }
  };
  auto doc = parse_json_document(record.value);
  if (!doc) {
    if (doc.error().code == "nul_character") {
      // Well-formed JSON of bounded depth, refused for a NUL elsewhere: its
      // own command id still names where the refusal is answered.
      take_body_id(nlohmann::json::parse(record.value, nullptr, false));
    }
    return refuse(doc.error());
  }
  take_body_id(*doc);
  if (!key) return refuse(key.error());

  out.type = "policy_value.set";
  if (auto it = doc->find("type"); it != doc->end()) {
    out.type = it->is_string() ? it->get<std::string>() : std::string();
  }
  auto decoded = decode_command(out.type, *doc);
  if (!decoded) return refuse(decoded.error());
  if (decoded->command_id.empty()) decoded->command_id = out.command_id;
  if (decoded->command_id.empty()) {
    domain::Error e{domain::ErrorKind::kInvalidArgument, "missing_field", "commands on Kafka need a command_id", {}};
    e.with("field", "command_id");
    return refuse(std::move(e));
  }
  out.command_id = out.result_key = decoded->command_id;

  const std::string* corr = nullptr;
  for (const auto& [name, value] : record.headers) {
    if (name == kCorrelationHeader) {
      corr = &value;
      break;
    }
  }
  auto correlation = header_id(kCorrelationHeader, corr);
  if (!correlation) return refuse(correlation.error());
  out.correlation_id = *correlation;
  out.command = std::move(*decoded);
  return out;
}

}  // namespace ledger::commands

#include "commands/decision_log/decision_record.h"

#include <array>
#include <charconv>

#include "events/codec/json_codec.h"

namespace ledger::commands {

using Json = nlohmann::json;
using namespace std::string_view_literals;

Json decision_record_json(const DecisionRecord& r) {
  return {{"kind", r.kind},
          {"decision_id", r.decision_id},
          {"recorded_at", r.recorded_at},
          {"as_of", r.as_of},
          {"organization_id", r.organization_id},
          {"project_id", r.project_id},
          {"actor", {{"tenant", r.actor_tenant}, {"actor_type", r.actor_type}, {"actor_id", r.actor_id}}},
          {"correlation_id", r.correlation_id},
          {"decision", r.decision},
          {"reason_code", r.reason_code},
          {"snapshot_version", r.snapshot_version},
          {"input", r.input},
          {"output", r.output}};
}

namespace {

domain::Error bad(const std::string& field) {
  domain::Error e{domain::ErrorKind::kInvalidArgument,
                  "invalid_decision_record",
                  "decision record field " + field + " is missing or malformed",
                  {}};
  e.with("field", field);
  return e;
}

}  // namespace

DecisionRecordFields fields_of(const DecisionRecord& r) {
  return {.kind = r.kind,
          .decision_id = r.decision_id,
          .recorded_at = r.recorded_at,
          .as_of = r.as_of,
          .organization_id = r.organization_id,
          .project_id = r.project_id,
          .actor_tenant = r.actor_tenant,
          .actor_type = r.actor_type,
          .actor_id = r.actor_id,
          .correlation_id = r.correlation_id,
          .decision = r.decision,
          .reason_code = r.reason_code,
          .snapshot_version = r.snapshot_version};
}

std::string encoded_decision_record(const DecisionRecordFields& r, std::string_view input_json,
                                    std::string_view output_json) {
  // The members in the order nlohmann's object (a std::map) keeps them,
  // each name written with its punctuation as one literal.
  std::string out;
  out.reserve(320 + input_json.size() + output_json.size());
  auto text = [&](std::string_view name, std::string_view value) {
    out += name;
    codec::append_json_string(out, value);
  };
  text(R"({"actor":{"actor_id":)"sv, r.actor_id);
  text(R"(,"actor_type":)"sv, r.actor_type);
  text(R"(,"tenant":)"sv, r.actor_tenant);
  text(R"(},"as_of":)"sv, r.as_of);
  text(R"(,"correlation_id":)"sv, r.correlation_id);
  text(R"(,"decision":)"sv, r.decision);
  text(R"(,"decision_id":)"sv, r.decision_id);
  out += R"(,"input":)"sv;
  out += input_json;
  text(R"(,"kind":)"sv, r.kind);
  text(R"(,"organization_id":)"sv, r.organization_id);
  out += R"(,"output":)"sv;
  out += output_json;
  text(R"(,"project_id":)"sv, r.project_id);
  text(R"(,"reason_code":)"sv, r.reason_code);
  text(R"(,"recorded_at":)"sv, r.recorded_at);
  out += R"(,"snapshot_version":)"sv;
  std::array<char, 24> digits;
  out.append(digits.data(), std::to_chars(digits.begin(), digits.end(), r.snapshot_version).ptr);
  out += '}';
  return out;
}

domain::Result<DecisionRecord> decision_record_from_json(const Json& j) {
  if (!j.is_object()) return std::unexpected(bad("record"));
  DecisionRecord r;
  auto text = [&](const Json& o, const char* name, std::string& out) -> bool {
    auto it = o.find(name);
    if (it == o.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  for (auto [name, out] : {std::pair{"decision_id", &r.decision_id}, std::pair{"recorded_at", &r.recorded_at},
                           std::pair{"as_of", &r.as_of}, std::pair{"organization_id", &r.organization_id},
                           std::pair{"project_id", &r.project_id}, std::pair{"correlation_id", &r.correlation_id},
                           std::pair{"decision", &r.decision}, std::pair{"reason_code", &r.reason_code}}) {
    if (!text(j, name, *out)) return std::unexpected(bad(name));
  }
  if (j.contains("kind")) {
    if (!text(j, "kind", r.kind) || (r.kind != kAdmissionDecision && r.kind != kEntitlementCheck)) {
      return std::unexpected(bad("kind"));
    }
  }
  auto actor = j.find("actor");
  if (actor == j.end() || !actor->is_object()) return std::unexpected(bad("actor"));
  if (!text(*actor, "tenant", r.actor_tenant)) return std::unexpected(bad("actor.tenant"));
  if (!text(*actor, "actor_type", r.actor_type)) return std::unexpected(bad("actor.actor_type"));
  if (!text(*actor, "actor_id", r.actor_id)) return std::unexpected(bad("actor.actor_id"));
  auto sv = j.find("snapshot_version");
  if (sv == j.end() || !sv->is_number_integer()) return std::unexpected(bad("snapshot_version"));
  r.snapshot_version = sv->get<std::int64_t>();
  auto in = j.find("input");
  if (in == j.end() || !in->is_object()) return std::unexpected(bad("input"));
  r.input = *in;
  auto out = j.find("output");
  if (out == j.end() || !out->is_object()) return std::unexpected(bad("output"));
  r.output = *out;
  return r;
}

}  // namespace ledger::commands

// One logged decision (issue 13 part 6): what ledger-query answered to one
// POST /v1/decisions or one item of POST /v1/decisions:batch, with what it
// was decided against, so that "what did we decide for X at time T" can be
// answered and re-derived from history (`ledger-audit decisions`).
//
//   DecisionRecord r{.decision_id = ..., .input = body, .output = answer, ...};
//   std::string line = decision_record_json(r).dump();     // Kafka value
//   auto back = decision_record_from_json(Json::parse(line));
//
// Fields: `input` is the policy_decision_input as received (correlation_id
// filled in from the header when the body had none), `output` the
// policy_decision_output answered (matched_rules, evidence, ... as on the
// wire). `snapshot_version` is the position it was decided at and `as_of`
// the instant it was decided for: together they re-derive it. `actor_*` is
// the principal that asked (from its token), `recorded_at` when it was
// answered. `decision_id` is unique per record (the table's key: a Kafka
// redelivery is stored once). Only answered decisions are recorded; an input
// refused before deciding (400, 403, 404, 422) is not a decision.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "domain/error.h"

namespace ledger::commands {

// What was decided: an admission decision (seed 001, POST /v1/decisions),
// or an entitlement check (seed 003, POST /v1/entitlements:check), whose
// `input` is {check: the check as asked, cut: {position, time}} and whose
// `output` the check's answer; `decision` allow | deny and `reason_code`
// its reason. A record without `kind` (written before there were two) is an
// admission decision.
inline constexpr const char* kAdmissionDecision = "admission";
inline constexpr const char* kEntitlementCheck = "entitlement_check";

struct DecisionRecord {
  std::string kind = kAdmissionDecision;
  std::string decision_id;
  std::string recorded_at;  // RFC 3339
  std::string as_of;        // RFC 3339
  std::string organization_id;
  std::string project_id;
  std::string actor_tenant;
  std::string actor_type;
  std::string actor_id;
  std::string correlation_id;
  std::string decision;  // allow | warn | deny
  std::string reason_code;
  std::int64_t snapshot_version = 0;
  nlohmann::json input;
  nlohmann::json output;
  // decision_record_json(*this) as text, when the producer encoded it
  // already (the query service does, on the deciding thread, and leaves
  // input and output null: no JSON tree crosses threads, so the publisher
  // frees a few strings per record, not every node of two trees; an
  // admission decision's record holds only this and organization_id,
  // the publisher's key).
  std::string encoded;
  // The texts of `input` and `output`, compact, when the record was read
  // from the topic (adapters/kafka read_decision_log_value keeps them and
  // leaves the trees null): what the decision log's table stores.
  std::string input_json;
  std::string output_json;
};

nlohmann::json decision_record_json(const DecisionRecord& r);

// A record's scalar fields, viewed where they already are: the answering
// thread writes a record's text without copying them into a record first.
struct DecisionRecordFields {
  std::string_view kind = kAdmissionDecision;
  std::string_view decision_id;
  std::string_view recorded_at;
  std::string_view as_of;
  std::string_view organization_id;
  std::string_view project_id;
  std::string_view actor_tenant;
  std::string_view actor_type;
  std::string_view actor_id;
  std::string_view correlation_id;
  std::string_view decision;
  std::string_view reason_code;
  std::int64_t snapshot_version = 0;
};
DecisionRecordFields fields_of(const DecisionRecord& r);

// The text of decision_record_json(r) with `input` and `output` replaced by
// the given JSON texts (each as nlohmann's dump(-1) with the `replace`
// error handler writes it), byte for byte, written without building a
// tree: the answering thread already holds the output's text, and copying
// two trees into a third cost more than the decision (issue 12).
// r.input and r.output are not read.
std::string encoded_decision_record(const DecisionRecordFields& r, std::string_view input_json,
                                    std::string_view output_json);
inline std::string encoded_decision_record(const DecisionRecord& r, std::string_view input_json,
                                           std::string_view output_json) {
  return encoded_decision_record(fields_of(r), input_json, output_json);
}
// kInvalidArgument `invalid_decision_record` (evidence: field) when a field
// is missing or of the wrong type.
domain::Result<DecisionRecord> decision_record_from_json(const nlohmann::json& j);

}  // namespace ledger::commands

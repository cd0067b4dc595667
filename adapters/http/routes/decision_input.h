// The body of POST /v1/decisions (policy_decision_input) read into a
// domain::DecisionInput, two ways that give the same answers:
//
//   - parse_decision_input: from the request's JSON tree
//     (commands::parse_json_document), with every error the API documents
//     (400 invalid_decision_input naming the field, ...);
//   - read_plain_decision_input: straight from the body's bytes (simdjson,
//     no tree), for the plain shape most callers send. It answers only when
//     it understands the whole body and the tree reader would accept it;
//     for anything else (an error, a duplicate key, an unknown field, a
//     null, an escape, a byte outside ASCII, a number the tree reader would
//     weigh) it returns nullopt and the caller takes the tree path, so
//     every refusal stays byte for byte what it was.
//
//   if (auto plain = read_plain_decision_input(req.body, cid, /*with_logged=*/true)) ...
//   else { auto doc = commands::parse_json_document(req.body); ... parse_decision_input(*doc, cid, app); }
//
// tests/unit/decision_input_test.cc holds the two to each other on random
// bodies.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/admission.h"

namespace ledger::routes {

// 400 invalid_decision_input naming `field`.
domain::Error invalid_input(const std::string& field, std::string message);

// The application a decision input names (seed 002): its policy chain runs
// on the decision's snapshot once admission allows (run_application).
struct ApplicationCheck {
  std::string app_id;
  std::string model;
  std::int64_t size_bytes = 0;
  std::int64_t estimated_tokens = 0;
  friend bool operator==(const ApplicationCheck&, const ApplicationCheck&) = default;
};

// The input from its JSON tree: known fields only, exact types, then
// domain::validate_decision_input. A missing correlation_id takes
// `fallback_correlation_id` (the header's).
domain::Result<domain::DecisionInput> parse_decision_input(const nlohmann::json& body,
                                                           const std::string& fallback_correlation_id,
                                                           std::optional<ApplicationCheck>& application);

struct PlainDecisionInput {
  domain::DecisionInput input;
  std::optional<ApplicationCheck> application;
  // The body as the decision log records it: what dumping its tree gives
  // (compact, keys sorted). Empty unless asked for.
  std::string logged;
};

// The input straight from the body, or nullopt: take the tree path.
std::optional<PlainDecisionInput> read_plain_decision_input(std::string_view body,
                                                            const std::string& fallback_correlation_id,
                                                            bool with_logged);

// The inputs of a POST /v1/decisions:batch body ({"decisions": [...]})
// straight from its bytes, in order: every one of them plain and at most
// `max_items`, or nullopt and the whole batch takes the tree path (which
// answers a refused input in its own slot, or refuses the body).
std::optional<std::vector<PlainDecisionInput>> read_plain_decision_batch(std::string_view body,
                                                                         const std::string& fallback_correlation_id,
                                                                         bool with_logged, std::size_t max_items);

}  // namespace ledger::routes

// A decision input as one comparable text, and the tree path's answer for a
// body: what tests/unit/decision_input_test.cc and the decision_input_fuzz
// target hold the direct reader (routes::read_plain_decision_input) to.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "adapters/http/routes/admission_json.h"
#include "adapters/http/routes/decision_input.h"
#include "commands/decode.h"

namespace ledger::testing {

// Every field of the input.
inline std::string describe(const domain::DecisionInput& in) {
  const nlohmann::json j = {
      {"actor", {in.actor.actor_type, in.actor.actor_id, in.actor.roles, in.actor.scopes}},
      {"hierarchy", {in.hierarchy.organization_id, in.hierarchy.department_id, in.hierarchy.project_id}},
      {"product", {in.product.product_id, in.product.resource_type, in.product.resource_id, in.product.action}},
      {"request",
       {in.request.dimension, in.request.requested_delta, in.request.unit, in.request.region, in.request.sku_or_model}},
      {"usage", {in.current_usage.scope_window, in.current_usage.quantity, in.current_usage.unit}},
      {"versions", in.registry_versions},
      {"correlation_id", in.correlation_id},
  };
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What the tree path (parse_json_document + parse_decision_input) makes of
// a body: accepted or not, and if so the input, application and log text.
struct TreeAnswer {
  bool accepted = false;
  std::string input;
  std::optional<routes::ApplicationCheck> application;
  std::string logged;
};

inline TreeAnswer by_tree(const std::string& body, const std::string& fallback_correlation_id) {
  TreeAnswer a;
  auto doc = commands::parse_json_document(body);
  if (!doc) return a;
  auto in = routes::parse_decision_input(*doc, fallback_correlation_id, a.application);
  if (!in) return a;
  a.accepted = true;
  a.input = describe(*in);
  a.logged = routes::dump_lenient(*doc);
  return a;
}

}  // namespace ledger::testing

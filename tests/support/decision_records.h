// One decision record as ledger-query writes it, for the tests of the
// decision log (its buffer, its record, the projector's reader and the
// projector itself).
#pragma once

#include <string>

#include "commands/decision_log/decision_record.h"

namespace ledger::testing {

// An allowed admission decision of org-acme's project p1, asked by its
// service account: `decision_id` = id, `correlation_id` = "c-" + id,
// snapshot_version 42, an input naming the hierarchy and an output with one
// matched rule.
inline commands::DecisionRecord sample_decision_record(const std::string& id) {
  commands::DecisionRecord r;
  r.decision_id = id;
  r.recorded_at = "2026-12-02T10:00:00Z";
  r.as_of = "2026-12-02T10:00:00Z";
  r.organization_id = "org-acme";
  r.project_id = "p1";
  r.actor_tenant = "org-acme";
  r.actor_type = "service_account";
  r.actor_id = "acme-service";
  r.correlation_id = "c-" + id;
  r.decision = "allow";
  r.reason_code = "within_ceiling";
  r.snapshot_version = 42;
  r.input = {{"hierarchy", {{"organization_id", "org-acme"}, {"project_id", "p1"}}}};
  r.output = {{"decision", "allow"}, {"matched_rules", nlohmann::json::array({{{"rule_id", "r1"}}})}};
  return r;
}

}  // namespace ledger::testing

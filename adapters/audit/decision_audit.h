// `ledger-audit decisions` (issue 13 part 6): re-derives logged decisions
// from history and reports those that differ.
//
//   auto r = audit::audit_decisions(pg_url, {.organization_id = "org-acme"});
//   // r->checked, r->differences (each: decision_id, what differs)
//
// Each record of decision_log.decisions (adapters/postgres/decision_log_store.h)
// matching the filter is decided again: the event store replayed up to its
// snapshot_version (projections::apply_to, the query service's own
// in-memory models), its input decided at its as_of exactly as
// POST /v1/decisions does (routes::rederive_decision:
// AdmissionModel::snapshot_for + decide_admission), and the output compared
// with the logged one field by field. Records are taken in snapshot order,
// so history is read once. A record whose snapshot_version is beyond the
// store's head, or whose input no longer decides, differs too.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "domain/app_policy/policy_types.h"
#include "domain/error.h"

namespace ledger::audit {

struct DecisionAuditQuery {
  std::optional<std::string> organization_id;
  std::optional<std::string> project_id;
  std::optional<std::string> correlation_id;
  std::optional<std::string> from;  // RFC 3339, recorded_at >= from
  std::optional<std::string> to;    // RFC 3339, recorded_at < to
};

struct DecisionDifference {
  std::string decision_id;
  std::string correlation_id;
  std::string organization_id;
  std::int64_t snapshot_version = 0;
  std::vector<std::string> fields;  // output fields that differ ("error" when it no longer decides)
  nlohmann::json logged;
  nlohmann::json derived;
};

struct DecisionAuditReport {
  std::size_t checked = 0;
  std::vector<DecisionDifference> differences;
};

// `deps` runs the chains of decisions that named an application (seed 002;
// its CEL engine for custom_cel policies).
domain::Result<DecisionAuditReport> audit_decisions(
    const std::string& pg_url, const DecisionAuditQuery& q, const domain::app_policy::PolicyDeps& deps,
    const std::function<void(std::int64_t, std::int64_t)>& progress = {});

nlohmann::json decision_audit_json(const DecisionAuditReport& r);

}  // namespace ledger::audit

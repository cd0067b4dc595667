// The decision log's table (sql/003_decision_log.sql, schema decision_log):
// written by ledger-projector from ledger.decisions, read by ledger-query's
// GET /v1/decisions/log and by `ledger-audit decisions`.
//
//   PgDecisionLog log(url, 4);
//   log.insert(records);                            // projector: idempotent by decision_id
//   auto page = log.page({.organization_id = "org-acme", .limit = 100});
//
// Errors: kUnavailable `database_unavailable` when PostgreSQL cannot be
// reached, kInternal otherwise; nothing here throws. Thread-safe (a pool).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "commands/decision_log/decision_record.h"
#include "domain/error.h"

namespace ledger::adapters::postgres {

struct DecisionLogFilter {
  std::optional<std::string> kind;  // admission | entitlement_check
  std::optional<std::string> organization_id;
  std::optional<std::string> project_id;
  std::optional<std::string> correlation_id;
  std::optional<std::string> decision;
  std::optional<std::string> from;  // RFC 3339, recorded_at >= from
  std::optional<std::string> to;    // RFC 3339, recorded_at < to
  std::int64_t after_seq = 0;       // paging: rows after this arrival number
  std::size_t limit = 100;
};

struct DecisionLogRow {
  std::int64_t seq = 0;  // arrival order in the table
  commands::DecisionRecord record;
};

struct DecisionLogPage {
  std::vector<DecisionLogRow> items;  // ascending seq
  bool has_more = false;
};

class PgDecisionLog {
 public:
  PgDecisionLog(const std::string& url, std::size_t pool_size);
  ~PgDecisionLog();

  // Inserts the records in one transaction; one already present (same
  // decision_id) is left as it is. Returns how many were new. A record's
  // input and output are stored as its input_json and output_json texts
  // (as the projector reads them), or else its trees written; `encoded`,
  // the producer's form, is not read.
  domain::Result<std::size_t> insert(std::span<const commands::DecisionRecord> records);
  domain::Result<DecisionLogPage> page(const DecisionLogFilter& filter);
  domain::Result<std::int64_t> count();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Retention (an operator's act, `ledger-admin prune-decision-log`): deletes
// the rows recorded before `before` (an RFC 3339 instant PostgreSQL reads),
// in transactions of at most `batch` rows, so a long prune never holds one
// long transaction and a stopped one keeps what it deleted. Through a URL
// that may delete from the table (the superuser's): no service role may.
// With `dry_run`, counts them and deletes nothing. Returns how many rows.
// Errors: kUnavailable `database_unavailable`, kInternal `database_error`;
// a prune that fails says in evidence `deleted_before_failure` how many rows
// its committed batches deleted.
domain::Result<std::int64_t> prune_decision_log(const std::string& admin_url, const std::string& before,
                                                std::size_t batch, bool dry_run = false);

}  // namespace ledger::adapters::postgres

// PostgreSQL home of the read models: generic row operations plus checkpoints
// in one transaction, the migrator, the policy-values queries and the audit
// queries.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/error.h"
#include "domain/policy_resolution.h"
#include "events/event.h"
#include "projections/audit/audit_reader.h"
#include "projections/policy_values/policy_value_reader.h"
#include "projections/projection.h"

namespace ledger::adapters::postgres {

// Applies the event-store migration and creates the read-model tables in
// `read_model_schema`. Needs a superuser (or owner) connection. Idempotent.
domain::Result<void> migrate(const std::string& admin_url, const std::string& read_model_schema);
// Creates (or empties, when `reset`) the read-model tables in `schema`, e.g.
// a scratch schema for a rebuild.
domain::Result<void> prepare_read_model_schema(const std::string& url, const std::string& schema, bool reset);

// Every table of a read-model schema, checkpoints first (what a rebuild
// writes and a replay compares).
const std::vector<std::string>& read_model_tables();

// Rows of `table` in both schemas that differ (present in one only), as
// JSON lines, at most `limit`. Empty = identical.
domain::Result<std::vector<std::string>> diff_tables(const std::string& url, const std::string& schema_a,
                                                     const std::string& schema_b, const std::string& table,
                                                     std::size_t limit);

// ReadModelStore over one schema. Thread-compatible (one projector thread).
class PgReadModelStore final : public projections::ReadModelStore {
 public:
  PgReadModelStore(std::string url, std::string schema);
  ~PgReadModelStore() override;
  domain::Result<events::GlobalPosition> checkpoint(std::string_view projection) override;
  domain::Result<void> commit(std::string_view projection, std::span<const projections::RowOp> ops,
                              events::GlobalPosition from, events::GlobalPosition to) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The policy-value read model in PostgreSQL (projections/policy_values/
// policy_value_reader.h). Thread-safe: a small pool of connections, one per
// concurrent caller.
class PgPolicyQueries final : public projections::PolicyValueReader {
 public:
  PgPolicyQueries(const std::string& url, std::string schema, std::size_t pool_size);
  ~PgPolicyQueries() override;

  // The checkpoint of any projection (e.g. "audit", for lag metrics).
  domain::Result<events::GlobalPosition> checkpoint(std::string_view projection);
  // The "policy_values" checkpoint.
  domain::Result<events::GlobalPosition> checkpoint() override;
  domain::Result<projections::PolicySnapshot> policy_snapshot(
      const std::string& key, const domain::ScopeChain& chain,
      std::optional<events::GlobalPosition> max_position) override;
  // Bounded by the "policy_values" checkpoint, and by `max_position` when given.
  domain::Result<std::vector<std::string>> key_names(const std::string& prefix,
                                                     std::optional<events::GlobalPosition> max_position) override;
  // True when the database answers.
  bool ping();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------- audit

// The audit read model in PostgreSQL (projections/audit/audit_reader.h),
// plus the event store's head. Thread-safe: a small pool of connections,
// one per concurrent caller.
class PgAuditQueries final : public projections::AuditReader {
 public:
  PgAuditQueries(const std::string& url, std::string schema, std::size_t pool_size);
  ~PgAuditQueries() override;

  // The checkpoint of any projection (e.g. "audit", for lag metrics).
  domain::Result<events::GlobalPosition> checkpoint(std::string_view projection);
  domain::Result<events::GlobalPosition> page_position(const projections::AuditFilter& filter) override;
  domain::Result<events::GlobalPosition> head_position() override;
  domain::Result<projections::AuditPage> audit_page(const projections::AuditFilter& filter) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::adapters::postgres

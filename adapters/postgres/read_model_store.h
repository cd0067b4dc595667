// PostgreSQL home of the read models: generic row operations plus checkpoints
// in one transaction, the migrator, and the policy-values queries.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/error.h"
#include "domain/policy_resolution.h"
#include "projections/projection.h"

namespace ledger::adapters::postgres {

// Applies the event-store migration and creates the read-model tables in
// `read_model_schema`. Needs a superuser (or owner) connection. Idempotent.
domain::Result<void> migrate(const std::string& admin_url, const std::string& read_model_schema);
// Creates (or empties, when `reset`) the read-model tables in `schema`, e.g.
// a scratch schema for a rebuild.
domain::Result<void> prepare_read_model_schema(const std::string& url, const std::string& schema, bool reset);

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
  domain::Result<std::int64_t> checkpoint(std::string_view projection) override;
  domain::Result<void> commit(std::string_view projection, std::span<const projections::RowOp> ops,
                              std::int64_t from, std::int64_t to) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What the query service reads for one policy value, from one consistent
// snapshot of the read model.
struct PolicySnapshot {
  std::int64_t snapshot_version = 0;  // the projector checkpoint the rows reflect
  std::optional<events::PolicyKeyDefined> key;
  std::vector<domain::ValueCandidate> candidates;
};

// Read-only queries over the live read model. Thread-safe: a small pool of
// connections, one per concurrent caller.
class PgPolicyQueries {
 public:
  PgPolicyQueries(std::string url, std::string schema, std::size_t pool_size);
  ~PgPolicyQueries();

  domain::Result<std::int64_t> checkpoint(std::string_view projection);
  // Key definition and every value at the chain's scopes, with position at or
  // below `max_position` when given (time travel by position).
  domain::Result<PolicySnapshot> policy_snapshot(const std::string& key, const domain::ScopeChain& chain,
                                                 std::optional<std::int64_t> max_position);
  // True when the database answers.
  bool ping();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::adapters::postgres

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
  domain::Result<std::int64_t> checkpoint(std::string_view projection) override;
  domain::Result<void> commit(std::string_view projection, std::span<const projections::RowOp> ops, std::int64_t from,
                              std::int64_t to) override;

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
  // below `max_position` when given (time travel by position). With
  // chain.org_id set, values at user and project scopes count only when
  // written for that organization or by the platform (ids the hierarchy
  // does not know are not unique across organizations).
  domain::Result<PolicySnapshot> policy_snapshot(const std::string& key, const domain::ScopeChain& chain,
                                                 std::optional<std::int64_t> max_position);
  // True when the database answers.
  bool ping();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------- audit

// One row of the audit view (projections/audit_projection.h). JSON columns
// are carried as JSON text so no JSON library reaches this header.
struct AuditRow {
  std::int64_t position = 0;
  std::string event_id;
  std::string tenant;
  std::string stream_id;
  std::int64_t stream_version = 0;
  std::string event_type;
  int schema_version = 0;
  std::string subject_kind;
  std::string subject_key;
  std::optional<std::string> scope_level;
  std::optional<std::string> scope_id;
  std::optional<std::string> before_json;  // NULL: there was no value before
  std::optional<std::string> before_source;
  std::string after_json;
  std::optional<std::string> reason;
  events::Actor actor;
  events::Instant occurred_at;
  events::Instant recorded_at;
  std::optional<events::Instant> effective_at;
  std::string correlation_id;
  std::string causation_id;
  std::string command_id;
  // The position the writer decided this row's command against (seed 001,
  // mutation rule 5): the last position before the command's first event.
  std::int64_t decided_at_position = 0;
};

// What GET /v1/audit and /v1/audit/changes/{key} ask for. Unset filters
// match everything; set ones are ANDed.
struct AuditFilter {
  std::optional<std::string> tenant;
  std::optional<std::string> scope_level;
  std::optional<std::string> scope_id;
  // With scope_level "organization" and scope_id X: also every row the
  // ledger attributed to tenant X (the scopes below that organization).
  // With scope_level "department", "project", "principal" or "user" and
  // scope_id X: every row whose scope (or, for a reservation's later rows,
  // whose reservation's owner) lay in X's subtree at the row's own position
  // (see in_subtree()).
  bool include_descendants = false;
  std::optional<std::string> subject_kind;
  std::optional<std::string> subject_key;
  std::optional<std::string> actor_id;
  std::optional<std::string> actor_type;
  std::optional<std::string> event_type;
  std::optional<std::string> correlation_id;
  std::optional<std::string> command_id;
  std::optional<events::Instant> recorded_from;  // recorded_at >= from
  std::optional<events::Instant> recorded_to;    // recorded_at <  to
  std::int64_t after_position = 0;               // the page starts after it (cursor)
  std::optional<std::int64_t> max_position;      // as_of_position: rows at or below it
  std::size_t limit = 100;
  bool with_latest = false;  // also the newest matching row, ignoring the cursor

  // True when the filter is a subtree of the admission hierarchy: the rows
  // at scope X itself (all of them), plus the rows of every department,
  // project and principal (a principal also as policy level "user") at a
  // position p where the node hung below X, judged by the node's and its
  // ancestors' links valid at p (rm.scope_links: the link of a node at p is
  // its latest link at or below p, so a create or move counts at the node's
  // new place). A reservation's later rows (filed at its organization,
  // subject "reservation" with its id) count when its owner (rm.reservations)
  // was such a member at the row's position. Such a page is read at the lower
  // of the "audit" and "admission" checkpoints.
  bool in_subtree() const {
    return include_descendants && scope_id && scope_level &&
           (*scope_level == "department" || *scope_level == "project" || *scope_level == "principal" ||
            *scope_level == "user");
  }
};

// One page, from one consistent snapshot of the read model.
struct AuditPage {
  std::int64_t snapshot_version = 0;  // the audit checkpoint the rows reflect (in_subtree: and the admission one)
  std::vector<AuditRow> rows;         // ascending position
  bool has_more = false;              // rows beyond the page exist in this snapshot
  std::optional<AuditRow> latest;     // when with_latest
};

// Read-only audit queries over the live read model, plus the event store's
// head (to refuse positions beyond it). Thread-safe: a small pool of
// connections, one per concurrent caller.
class PgAuditQueries {
 public:
  PgAuditQueries(std::string url, std::string schema, std::size_t pool_size);
  ~PgAuditQueries();

  domain::Result<std::int64_t> checkpoint(std::string_view projection);
  // The last global position of the event store.
  domain::Result<std::int64_t> head_position();
  domain::Result<AuditPage> audit_page(const AuditFilter& filter);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::adapters::postgres

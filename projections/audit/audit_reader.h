// The audit read model, read: the port every reader of it goes through
// (GET /v1/audit, /v1/audit/changes/{key}, the views' recent changes).
// Implemented over PostgreSQL (adapters/postgres/read_model_store.h,
// PgAuditQueries). Errors are values; nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/error.h"
#include "events/event.h"

namespace ledger::projections {

// One row of the audit view (projections/audit/audit_projection.h). JSON columns
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
  std::optional<events::Instant> recorded_from;        // recorded_at >= from
  std::optional<events::Instant> recorded_to;          // recorded_at <  to
  std::int64_t after_position = 0;                     // the page starts after it (cursor)
  std::optional<events::GlobalPosition> max_position;  // as_of_position: rows at or below it
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

class AuditReader {
 public:
  AuditReader() = default;
  AuditReader(const AuditReader&) = delete;
  AuditReader& operator=(const AuditReader&) = delete;
  virtual ~AuditReader() = default;

  // The position a page of `filter` is read at: the audit read model's
  // checkpoint, and for a subtree filter (AuditFilter::in_subtree) the
  // lower of it and the admission read model's (whose hierarchy links
  // judge membership).
  virtual domain::Result<events::GlobalPosition> page_position(const AuditFilter& filter) = 0;
  // The last global position of the event store (to refuse positions and
  // cursors beyond it).
  virtual domain::Result<events::GlobalPosition> head_position() = 0;
  // One page of the rows `filter` matches, from one snapshot.
  virtual domain::Result<AuditPage> audit_page(const AuditFilter& filter) = 0;
};

}  // namespace ledger::projections

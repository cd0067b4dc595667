// projections::AuditReader over the in-memory read-model store: the rows the
// audit projection (projections/audit/audit_projection.h) wrote to
// InMemoryReadModelStore's audit log table, read as PgAuditQueries reads
// them from PostgreSQL — the same filters, order, paging, `latest` and
// mutation evidence (decided_at_position). For fast unit tests of what
// stands above the port (the audit routes).
//
// A subtree filter (AuditFilter::in_subtree) is not answered (kInternal):
// its membership needs the hierarchy's links at each row's position, which
// only the stored admission read model keeps. Thread-safe; it reads a copy
// of the store's tables per call.
#pragma once

#include "adapters/memory/event_store.h"
#include "projections/audit/audit_reader.h"

namespace ledger::adapters::memory {

class MemoryAuditReader final : public projections::AuditReader {
 public:
  // Both must outlive the reader.
  MemoryAuditReader(InMemoryReadModelStore& store, InMemoryEventStore& events) : store_(store), events_(events) {}

  domain::Result<events::GlobalPosition> page_position(const projections::AuditFilter& filter) override;
  domain::Result<events::GlobalPosition> head_position() override;
  domain::Result<projections::AuditPage> audit_page(const projections::AuditFilter& filter) override;

 private:
  InMemoryReadModelStore& store_;
  InMemoryEventStore& events_;
};

}  // namespace ledger::adapters::memory

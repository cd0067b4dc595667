// What the query service's routes share when they answer from the in-memory
// read models (projections/admission/admission_store.h): the snapshot a
// request may use (or the answer instead), read through the same ports as
// the stored read models (projections/admission/snapshot_reader.h), so both
// paths feed the same code after the read.
//
// No function here touches PostgreSQL unless a request asks for a position
// the store has not reached (then `head` is read once to refuse a position
// beyond the event store's head). Thread-safe.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "adapters/http/http_types.h"
#include "adapters/http/routes/query_params.h"
#include "projections/admission/admission_store.h"

namespace ledger::routes {

// The header every answer of a memory-capable route carries, and its values.
inline constexpr const char* kReadModelHeader = "x-read-model";
inline constexpr const char* kFromMemory = "memory";
inline constexpr const char* kFromPostgres = "postgresql";

// The published snapshot when the store is ready and at or beyond
// c.min_position (waiting up to c.wait_ms in all for it, as the SQL path
// waits for its checkpoint; a request with a min_position also waits for a
// store that is still catching up after a start); else the answer: 503 `snapshot_not_ready` (with
// Retry-After, snapshot_version and min_position) or 400
// `position_beyond_head`.
std::expected<std::shared_ptr<const projections::QuerySnapshot>, adapters::http::HttpResponse> memory_snapshot(
    const projections::AdmissionStore& store, const Consistency& c,
    const std::function<domain::Result<events::GlobalPosition>()>& head);

// Marks where an answer came from (kReadModelHeader), unless already marked.
void mark_read_model(adapters::http::HttpResponse& r, const char* source);

}  // namespace ledger::routes

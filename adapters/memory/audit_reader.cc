#include "adapters/memory/audit_reader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <string>
#include <vector>

#include "events/codec/rfc3339.h"
#include "projections/audit/audit_projection.h"

namespace ledger::adapters::memory {

using projections::AuditFilter;
using projections::AuditPage;
using projections::AuditRow;

namespace {

using Row = InMemoryReadModelStore::Row;

const projections::Cell* cell(const Row& row, std::string_view column) {
  for (const auto& [name, value] : row) {
    if (name == column) return &value;
  }
  return nullptr;
}

std::string text(const Row& row, std::string_view column) {
  const auto* c = cell(row, column);
  return c && *c ? **c : std::string();
}

std::optional<std::string> nullable(const Row& row, std::string_view column) {
  const auto* c = cell(row, column);
  return c ? *c : std::nullopt;
}

std::int64_t integer(const std::string& s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

events::Instant instant(const std::string& s) { return codec::parse_instant(s).value_or(events::Instant{0}); }

// One row of the audit log as PgAuditQueries reads it (without
// decided_at_position, which needs its neighbours).
AuditRow row_of(const Row& key, const Row& values) {
  AuditRow a;
  a.position = integer(text(key, "position"));
  a.event_id = text(values, "event_id");
  a.tenant = text(values, "tenant");
  a.stream_id = text(values, "stream_id");
  a.stream_version = integer(text(values, "stream_version"));
  a.event_type = text(values, "event_type");
  a.schema_version = static_cast<int>(integer(text(values, "schema_version")));
  a.subject_kind = text(values, "subject_kind");
  a.subject_key = text(values, "subject_key");
  a.scope_level = nullable(values, "scope_level");
  a.scope_id = nullable(values, "scope_id");
  a.before_json = nullable(values, "before");
  a.before_source = nullable(values, "before_source");
  a.after_json = text(values, "after");
  a.reason = nullable(values, "reason");
  a.actor.type = text(values, "actor_type");
  a.actor.id = text(values, "actor_id");
  for (const auto& role : nlohmann::json::parse(text(values, "actor_roles"), nullptr, false)) {
    if (role.is_string()) a.actor.roles.push_back(role.get<std::string>());
  }
  a.occurred_at = instant(text(values, "occurred_at"));
  a.recorded_at = instant(text(values, "recorded_at"));
  if (auto t = nullable(values, "effective_at")) a.effective_at = instant(*t);
  a.correlation_id = text(values, "correlation_id");
  a.causation_id = text(values, "causation_id");
  a.command_id = text(values, "command_id");
  return a;
}

// Whether `p` (earlier) belongs to the same append as `a`: same stream,
// command, actor and commit time, positions and versions advancing together.
bool same_append(const AuditRow& p, const AuditRow& a) {
  return p.stream_id == a.stream_id && p.command_id == a.command_id && p.recorded_at == a.recorded_at &&
         p.actor.type == a.actor.type && p.actor.id == a.actor.id &&
         a.position - p.position == a.stream_version - p.stream_version;
}

bool equal(const std::optional<std::string>& want, const std::string& have) { return !want || *want == have; }
bool equal(const std::optional<std::string>& want, const std::optional<std::string>& have) {
  return !want || (have && *want == *have);
}

// audit_where() of the PostgreSQL reader, over one row.
bool matches(const AuditFilter& f, const AuditRow& r) {
  if (!equal(f.tenant, r.tenant)) return false;
  if (f.include_descendants && f.scope_level == "organization" && f.scope_id) {
    const bool at = r.scope_level == "organization" && r.scope_id == *f.scope_id;
    if (!at && r.tenant != *f.scope_id) return false;
  } else if (!equal(f.scope_level, r.scope_level) || !equal(f.scope_id, r.scope_id)) {
    return false;
  }
  return equal(f.subject_kind, r.subject_kind) && equal(f.subject_key, r.subject_key) &&
         equal(f.actor_id, r.actor.id) && equal(f.actor_type, r.actor.type) && equal(f.event_type, r.event_type) &&
         equal(f.correlation_id, r.correlation_id) && equal(f.command_id, r.command_id) &&
         (!f.recorded_from || r.recorded_at >= *f.recorded_from) && (!f.recorded_to || r.recorded_at < *f.recorded_to);
}

}  // namespace

domain::Result<events::GlobalPosition> MemoryAuditReader::page_position(const AuditFilter& filter) {
  if (filter.in_subtree())
    return domain::fail(domain::ErrorKind::kInternal, "internal", "a subtree page needs the stored read model");
  return store_.checkpoint(projections::AuditProjection::kName);
}

domain::Result<events::GlobalPosition> MemoryAuditReader::head_position() {
  return events::GlobalPosition{static_cast<std::int64_t>(events_.all().size())};
}

domain::Result<AuditPage> MemoryAuditReader::audit_page(const AuditFilter& filter) {
  auto checkpoint = page_position(filter);
  if (!checkpoint) return std::unexpected(checkpoint.error());
  AuditPage page;
  page.snapshot_version = checkpoint->value;
  const std::int64_t upto = std::min(filter.max_position.value_or(*checkpoint), *checkpoint).value;

  std::map<std::int64_t, AuditRow> log;  // ascending position
  const auto tables = store_.tables();
  if (auto t = tables.find(std::string(projections::AuditProjection::kTable)); t != tables.end()) {
    for (const auto& [key, values] : t->second) {
      AuditRow r = row_of(key, values);
      log.emplace(r.position, std::move(r));
    }
  }
  auto with_evidence = [&](std::map<std::int64_t, AuditRow>::const_iterator it) {
    AuditRow r = it->second;
    for (auto p = it; p != log.begin();) {
      --p;
      if (!same_append(p->second, r)) {
        r.decided_at_position = p->first;
        break;
      }
    }
    return r;
  };
  for (auto it = log.upper_bound(filter.after_position); it != log.end() && it->first <= upto; ++it) {
    if (!matches(filter, it->second)) continue;
    if (page.rows.size() == filter.limit) {
      page.has_more = true;
      break;
    }
    page.rows.push_back(with_evidence(it));
  }
  if (filter.with_latest) {
    for (auto it = log.upper_bound(upto); it != log.begin();) {
      --it;
      if (matches(filter, it->second)) {
        page.latest = with_evidence(it);
        break;
      }
    }
  }
  return page;
}

}  // namespace ledger::adapters::memory

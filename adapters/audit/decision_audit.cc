#include "adapters/audit/decision_audit.h"

#include <algorithm>

#include "adapters/http/routes/decision_log_api.h"
#include "adapters/http/routes/entitlement_reads.h"
#include "adapters/postgres/decision_log_store.h"
#include "adapters/postgres/event_store.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"
#include "projections/admission/admission_store.h"

namespace ledger::audit {

using Json = nlohmann::json;

domain::Result<DecisionAuditReport> audit_decisions(const std::string& pg_url, const DecisionAuditQuery& q,
                                                    const domain::app_policy::PolicyDeps& deps,
                                                    const std::function<void(std::int64_t, std::int64_t)>& progress) {
  adapters::postgres::PgDecisionLog log(pg_url, 1);
  std::vector<commands::DecisionRecord> records;
  adapters::postgres::DecisionLogFilter f;
  f.organization_id = q.organization_id;
  f.project_id = q.project_id;
  f.correlation_id = q.correlation_id;
  f.from = q.from;
  f.to = q.to;
  f.limit = 1000;
  for (;;) {
    auto page = log.page(f);
    if (!page) return std::unexpected(page.error());
    for (auto& row : page->items) records.push_back(std::move(row.record));
    if (!page->has_more) break;
    f.after_seq = page->items.back().seq;
  }
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.snapshot_version < b.snapshot_version; });

  adapters::postgres::PgEventReader reader(pg_url);
  auto head = reader.head_position();
  if (!head) return std::unexpected(head.error());
  projections::QuerySnapshot snap;
  DecisionAuditReport report;
  auto differ = [&](const commands::DecisionRecord& r, std::vector<std::string> fields, Json derived) {
    report.differences.push_back({r.decision_id, r.correlation_id, r.organization_id, r.snapshot_version,
                                  std::move(fields), r.output, std::move(derived)});
  };
  for (const auto& r : records) {
    ++report.checked;
    if (progress) progress(static_cast<std::int64_t>(report.checked), static_cast<std::int64_t>(records.size()));
    if (r.snapshot_version > head->value || r.snapshot_version < 0) {
      differ(r, {"snapshot_version"},
             Json{{"error", "snapshot_version beyond the event store's head " + std::to_string(head->value)}});
      continue;
    }
    while (snap.position.value < r.snapshot_version) {
      const auto want =
          static_cast<std::size_t>(std::min<std::int64_t>(5000, r.snapshot_version - snap.position.value));
      auto batch = reader.read_after(snap.position, want);
      if (!batch) return std::unexpected(batch.error());
      if (batch->empty()) break;
      for (const auto& rec : *batch) {
        auto env = codec::decode(rec);
        if (!env) {
          domain::Error e{domain::ErrorKind::kInternal, "undecodable_event", env.error(), {}};
          e.with("position", rec.meta.global_position.value);
          return std::unexpected(std::move(e));
        }
        projections::apply_to(snap, *env);
        snap.position = rec.meta.global_position;
      }
    }
    const auto as_of = codec::parse_instant(r.as_of);
    if (!as_of) {
      differ(r, {"as_of"}, Json{{"error", "the logged as_of is not an instant"}});
      continue;
    }
    auto derived = r.kind == commands::kEntitlementCheck
                       ? routes::rederive_check(r.input, snap)
                       : routes::rederive_decision(r.input, r.correlation_id, snap, *as_of, deps, &r.output);
    if (!derived) {
      differ(r, {"error"}, Json{{"error", {{"code", derived.error().code}, {"message", derived.error().message}}}});
      continue;
    }
    std::vector<std::string> fields;
    for (const auto& [k, v] : derived->items()) {
      auto it = r.output.find(k);
      if (it == r.output.end() || *it != v) fields.push_back(k);
    }
    for (const auto& [k, v] : r.output.items()) {
      if (!derived->contains(k)) fields.push_back(k);
    }
    if (!fields.empty()) differ(r, std::move(fields), std::move(*derived));
  }
  return report;
}

Json decision_audit_json(const DecisionAuditReport& r) {
  Json diffs = Json::array();
  for (const auto& d : r.differences) {
    diffs.push_back({{"decision_id", d.decision_id},
                     {"correlation_id", d.correlation_id},
                     {"organization_id", d.organization_id},
                     {"snapshot_version", d.snapshot_version},
                     {"fields", d.fields},
                     {"logged", d.logged},
                     {"derived", d.derived}});
  }
  return {{"checked", r.checked},
          {"differing", r.differences.size()},
          {"differences", std::move(diffs)},
          {"ok", r.differences.empty()}};
}

}  // namespace ledger::audit

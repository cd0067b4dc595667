#include "adapters/postgres/decision_log_store.h"

#include <nlohmann/json.hpp>

#include "adapters/postgres/pg_internal.h"

namespace ledger::adapters::postgres {

using internal::SessionPool;
using Json = nlohmann::json;

struct PgDecisionLog::Impl {
  Impl(const std::string& url, std::size_t size) : pool(url, size) {}
  SessionPool pool;
};

PgDecisionLog::PgDecisionLog(const std::string& url, std::size_t pool_size)
    : impl_(std::make_unique<Impl>(url, pool_size)) {}
PgDecisionLog::~PgDecisionLog() = default;

domain::Result<std::size_t> PgDecisionLog::insert(std::span<const commands::DecisionRecord> records) {
  if (records.empty()) return std::size_t{0};
  // One statement per batch: the records as one JSON array, in their order,
  // each as the text it arrived in when it has one (DecisionRecord::encoded).
  std::size_t size = 2;
  for (const auto& r : records) size += r.encoded.size() + 1;
  std::string text;
  text.reserve(size);
  text += '[';
  for (const auto& r : records) {
    if (text.size() > 1) text += ',';
    if (r.encoded.empty()) {
      text += commands::decision_record_json(r).dump(-1, ' ', false, Json::error_handler_t::replace);
    } else {
      text += r.encoded;
    }
  }
  text += ']';
  return impl_->pool.run<std::size_t>([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto res = tx.exec_params(
        "INSERT INTO decision_log.decisions (kind, decision_id, recorded_at, as_of, organization_id, project_id, "
        "actor_tenant, actor_type, actor_id, correlation_id, decision, reason_code, snapshot_version, input, output) "
        "SELECT coalesce(r->>'kind', 'admission'), r->>'decision_id', (r->>'recorded_at')::timestamptz, "
        "(r->>'as_of')::timestamptz, "
        "r->>'organization_id', r->>'project_id', r->'actor'->>'tenant', r->'actor'->>'actor_type', "
        "r->'actor'->>'actor_id', r->>'correlation_id', r->>'decision', r->>'reason_code', "
        "(r->>'snapshot_version')::bigint, r->'input', r->'output' "
        "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(r, n) ORDER BY n "
        "ON CONFLICT (decision_id) DO NOTHING",
        text);
    tx.commit();
    return static_cast<std::size_t>(res.affected_rows());
  });
}

domain::Result<DecisionLogPage> PgDecisionLog::page(const DecisionLogFilter& f) {
  return impl_->pool.run<DecisionLogPage>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<std::string> params;
    std::string where = "seq > $1::bigint";
    params.push_back(std::to_string(f.after_seq));
    auto add = [&](const std::optional<std::string>& v, const std::string& cond) {
      if (!v) return;
      params.push_back(*v);
      where += " AND " + cond + "$" + std::to_string(params.size());
    };
    add(f.kind, "kind = ");
    add(f.organization_id, "organization_id = ");
    add(f.project_id, "project_id = ");
    add(f.correlation_id, "correlation_id = ");
    add(f.decision, "decision = ");
    if (f.from) {
      params.push_back(*f.from);
      where += " AND recorded_at >= $" + std::to_string(params.size()) + "::timestamptz";
    }
    if (f.to) {
      params.push_back(*f.to);
      where += " AND recorded_at < $" + std::to_string(params.size()) + "::timestamptz";
    }
    const std::string sql =
        "SELECT seq, json_build_object('kind', kind, 'decision_id', decision_id, "
        "'recorded_at', to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "'as_of', to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "'organization_id', organization_id, 'project_id', project_id, "
        "'actor', json_build_object('tenant', actor_tenant, 'actor_type', actor_type, 'actor_id', actor_id), "
        "'correlation_id', correlation_id, 'decision', decision, 'reason_code', reason_code, "
        "'snapshot_version', snapshot_version, 'input', input, 'output', output)::text "
        "FROM decision_log.decisions WHERE " +
        where + " ORDER BY seq LIMIT " + std::to_string(f.limit + 1);
    auto rows = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
    DecisionLogPage page;
    for (const auto& row : rows) {
      if (page.items.size() == f.limit) {
        page.has_more = true;
        break;
      }
      auto rec = commands::decision_record_from_json(Json::parse(row[1].as<std::string>()));
      if (!rec) throw std::runtime_error(rec.error().message);
      page.items.push_back({row[0].as<std::int64_t>(), std::move(*rec)});
    }
    return page;
  });
}

domain::Result<std::int64_t> PgDecisionLog::count() {
  return impl_->pool.run<std::int64_t>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return tx.exec("SELECT count(*) FROM decision_log.decisions")[0][0].as<std::int64_t>();
  });
}

domain::Result<std::int64_t> prune_decision_log(const std::string& admin_url, const std::string& before,
                                                std::size_t batch, bool dry_run) {
  auto c = internal::connect(admin_url);
  if (!c) return std::unexpected(c.error());
  std::int64_t total = 0;
  bool broken = false;
  auto ok = internal::guarded(
      [&] {
        // The kinds present, one index probe each (decisions_by_kind leads
        // with kind; PostgreSQL 15 has no skip scan to do it for us).
        std::vector<std::string> kinds;
        {
          pqxx::read_transaction tx(**c);
          for (const auto& row :
               tx.exec("WITH RECURSIVE k AS ("
                       "  (SELECT kind FROM decision_log.decisions ORDER BY kind LIMIT 1)"
                       "  UNION ALL"
                       "  SELECT (SELECT d.kind FROM decision_log.decisions d WHERE d.kind > k.kind ORDER BY d.kind "
                       "LIMIT 1) FROM k WHERE k.kind IS NOT NULL) "
                       "SELECT kind FROM k WHERE kind IS NOT NULL")) {
            kinds.push_back(row[0].as<std::string>());
          }
        }
        for (const auto& kind : kinds) {
          if (dry_run) {
            pqxx::read_transaction tx(**c);
            total += tx.exec_params1(
                           "SELECT count(*) FROM decision_log.decisions WHERE kind = $1 AND recorded_at < "
                           "$2::timestamptz",
                           kind, before)[0]
                         .as<std::int64_t>();
            continue;
          }
          for (;;) {
            pqxx::work tx(**c);
            const auto res = tx.exec_params(
                "WITH doomed AS (SELECT seq FROM decision_log.decisions WHERE kind = $1 AND recorded_at < "
                "$2::timestamptz ORDER BY kind, recorded_at, seq LIMIT $3) "
                "DELETE FROM decision_log.decisions d USING doomed WHERE d.seq = doomed.seq",
                kind, before, static_cast<std::int64_t>(batch));
            tx.commit();
            total += static_cast<std::int64_t>(res.affected_rows());
            if (res.affected_rows() < batch) break;
          }
        }
      },
      broken);
  if (!ok) return std::unexpected(ok.error());
  return total;
}

}  // namespace ledger::adapters::postgres

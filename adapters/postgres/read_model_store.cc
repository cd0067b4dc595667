#include "adapters/postgres/read_model_store.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "adapters/postgres/pg_internal.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::adapters {
// NOLINTNEXTLINE(misc-use-internal-linkage): defined in the generated embedded_sql.cc
const std::vector<std::pair<std::string, std::string>>& embedded_sql();
}  // namespace ledger::adapters

namespace ledger::adapters::postgres {

using internal::Session;
using internal::SessionPool;
using internal::with_schema;
using projections::AuditFilter;
using projections::AuditPage;
using projections::AuditRow;
using projections::PolicySnapshot;

namespace {

const std::string& sql_file(const std::string& name) {
  for (const auto& [n, text] : embedded_sql()) {
    if (n == name) return text;
  }
  throw std::runtime_error("missing embedded SQL " + name);
}

std::string quote_ident(const std::string& id) {
  std::string out = "\"";
  for (char c : id) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

domain::Result<void> migrate(const std::string& admin_url, const std::string& read_model_schema) {
  Session s(admin_url);
  auto r = s.run<bool>([&](pqxx::connection& c) {
    pqxx::work tx(c);
    // Serialise concurrent migrators (two services starting at once).
    tx.exec("SELECT pg_advisory_xact_lock(7365)");
    for (const auto& [name, text] : embedded_sql()) {
      if (name.starts_with('0')) tx.exec(text);
    }
    tx.exec(with_schema(sql_file("read_model.sql"), read_model_schema));
    tx.commit();
    return true;
  });
  if (!r) return std::unexpected(r.error());
  return {};
}

domain::Result<void> prepare_read_model_schema(const std::string& url, const std::string& schema, bool reset) {
  Session s(url);
  auto r = s.run<bool>([&](pqxx::connection& c) {
    pqxx::work tx(c);
    if (reset) tx.exec(with_schema("DROP SCHEMA IF EXISTS __SCHEMA__ CASCADE", schema));
    tx.exec(with_schema(sql_file("read_model.sql"), schema));
    tx.commit();
    return true;
  });
  if (!r) return std::unexpected(r.error());
  return {};
}

const std::vector<std::string>& read_model_tables() {
  static const std::vector<std::string> kTables = {"checkpoints", "policy_keys", "policy_values", "audit_log",
                                                   // admission (projections/admission/admission_projection.h)
                                                   "registry_entries", "scope_nodes", "scope_links", "ceiling_rules",
                                                   "delegations", "reservations", "reservation_states",
                                                   "token_revocations"};
  return kTables;
}

domain::Result<std::vector<std::string>> diff_tables(const std::string& url, const std::string& schema_a,
                                                     const std::string& schema_b, const std::string& table,
                                                     std::size_t limit) {
  Session s(url);
  return s.run<std::vector<std::string>>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    const std::string a = with_schema("__SCHEMA__", schema_a) + "." + quote_ident(table);
    const std::string b = with_schema("__SCHEMA__", schema_b) + "." + quote_ident(table);
    auto rows = tx.exec(
        "SELECT side, row_to_json(d)::text FROM ("
        "  (SELECT '" +
        schema_a + "' AS side, t.* FROM (SELECT * FROM " + a + " EXCEPT ALL SELECT * FROM " + b +
        ") t)"
        "  UNION ALL"
        "  (SELECT '" +
        schema_b + "' AS side, t.* FROM (SELECT * FROM " + b + " EXCEPT ALL SELECT * FROM " + a +
        ") t)"
        ") d LIMIT " +
        std::to_string(limit));
    std::vector<std::string> out;
    for (const auto& row : rows) out.push_back(row[1].as<std::string>());
    return out;
  });
}

// ---------------------------------------------------------------- store

struct PgReadModelStore::Impl {
  Session session;
  std::string schema;
};

PgReadModelStore::PgReadModelStore(std::string url, std::string schema)
    : impl_(new Impl{Session(std::move(url)), std::move(schema)}) {
  with_schema("", impl_->schema);  // validates the name early
}
PgReadModelStore::~PgReadModelStore() = default;

domain::Result<events::GlobalPosition> PgReadModelStore::checkpoint(std::string_view projection) {
  return impl_->session.run<events::GlobalPosition>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto r =
        tx.exec_params(with_schema("SELECT position FROM __SCHEMA__.checkpoints WHERE projection = $1", impl_->schema),
                       std::string(projection));
    return events::GlobalPosition{r.empty() ? std::int64_t{0} : r[0][0].as<std::int64_t>()};
  });
}

domain::Result<void> PgReadModelStore::commit(std::string_view projection, std::span<const projections::RowOp> ops,
                                              events::GlobalPosition from, events::GlobalPosition to) {
  const std::string& schema = impl_->schema;
  bool moved = false;
  auto r = impl_->session.run<bool>([&](pqxx::connection& c) {
    pqxx::work tx(c);
    // Compare-and-set of the checkpoint first: a second instance that got
    // here earlier makes this transaction write nothing.
    auto cas = tx.exec_params(
        with_schema("INSERT INTO __SCHEMA__.checkpoints AS c (projection, position) VALUES ($1, $3) "
                    "ON CONFLICT (projection) DO UPDATE SET position = EXCLUDED.position WHERE c.position = $2 "
                    "RETURNING 1",
                    schema),
        std::string(projection), from.value, to.value);
    if (cas.empty()) {
      moved = true;
      return false;
    }
    // Consecutive upserts into one table with the same columns become one
    // multi-row statement (one round trip instead of one per event); within
    // such a run only the last write of a key is kept, as applying them one
    // by one would leave it. Removals run on their own, in order.
    std::size_t i = 0;
    while (i < ops.size()) {
      const auto& first = ops[i];
      const std::string table = with_schema("__SCHEMA__", schema) + "." + quote_ident(first.table);
      if (first.remove) {
        std::vector<std::optional<std::string>> params;
        std::string where;
        for (const auto& [name, cell] : first.key) {
          params.push_back(cell);
          where += (where.empty() ? "" : " AND ") + quote_ident(name) + " = $" + std::to_string(params.size());
        }
        tx.exec_params("DELETE FROM " + table + " WHERE " + where, pqxx::prepare::make_dynamic_params(params));
        ++i;
        continue;
      }
      auto same_shape = [&](const projections::RowOp& op) {
        if (op.remove || op.table != first.table || op.key.size() != first.key.size() ||
            op.values.size() != first.values.size()) {
          return false;
        }
        for (std::size_t k = 0; k < op.key.size(); ++k)
          if (op.key[k].first != first.key[k].first) return false;
        for (std::size_t k = 0; k < op.values.size(); ++k)
          if (op.values[k].first != first.values[k].first) return false;
        return true;
      };
      const std::size_t columns = first.key.size() + first.values.size();
      const std::size_t max_rows = std::max<std::size_t>(1, 30000 / columns);  // PostgreSQL allows 65535 parameters
      std::size_t j = i;
      std::map<std::vector<projections::Cell>, std::size_t> last_of_key;
      while (j < ops.size() && j - i < max_rows && same_shape(ops[j])) {
        std::vector<projections::Cell> key;
        for (const auto& kv : ops[j].key) key.push_back(kv.second);
        last_of_key[std::move(key)] = j;
        ++j;
      }
      std::vector<std::size_t> rows;
      for (const auto& [key, index] : last_of_key) rows.push_back(index);
      std::sort(rows.begin(), rows.end());

      std::string cols, key_cols, updates;
      for (const auto& kv : first.key) key_cols += (key_cols.empty() ? "" : ", ") + quote_ident(kv.first);
      cols = key_cols;
      for (const auto& kv : first.values) {
        cols += ", " + quote_ident(kv.first);
        updates += (updates.empty() ? "" : ", ") + quote_ident(kv.first) + " = EXCLUDED." + quote_ident(kv.first);
      }
      std::vector<std::optional<std::string>> params;
      std::string values;
      for (std::size_t r : rows) {
        values += values.empty() ? "(" : ", (";
        bool first_cell = true;
        for (const auto* part : {&ops[r].key, &ops[r].values}) {
          for (const auto& kv : *part) {
            params.push_back(kv.second);
            values += (first_cell ? "$" : ", $") + std::to_string(params.size());
            first_cell = false;
          }
        }
        values += ")";
      }
      tx.exec_params("INSERT INTO " + table + " (" + cols + ") VALUES " + values + " ON CONFLICT (" + key_cols +
                         ") DO " + (updates.empty() ? "NOTHING" : "UPDATE SET " + updates),
                     pqxx::prepare::make_dynamic_params(params));
      i = j;
    }
    tx.exec("SELECT pg_notify('ledger_read_model', '" + std::to_string(to.value) + "')");
    tx.commit();
    return true;
  });
  if (!r) return std::unexpected(r.error());
  if (moved) {
    domain::Error e{
        domain::ErrorKind::kAborted, "checkpoint_moved", "another projector instance moved the checkpoint", {}};
    e.with("projection", std::string(projection)).with("expected", from.value);
    return std::unexpected(std::move(e));
  }
  return {};
}

// ---------------------------------------------------------------- queries

namespace {

template <typename Tx>
std::int64_t checkpoint_in(Tx& tx, const std::string& schema, std::string_view projection) {
  auto r = tx.exec_params(with_schema("SELECT position FROM __SCHEMA__.checkpoints WHERE projection = $1", schema),
                          std::string(projection));
  return r.empty() ? std::int64_t{0} : r[0][0].template as<std::int64_t>();
}

}  // namespace

// ------------------------------------------------- one policy value's rows

namespace internal {

std::string policy_key_sql(const std::string& schema) {
  return with_schema(
      "SELECT value_type, default_value::text, min_value, max_value, allowed::text, description "
      "FROM __SCHEMA__.policy_keys WHERE key = $1 AND position <= $2",
      schema);
}

events::PolicyKeyDefined policy_key_of(const std::string& key, const pqxx::row& row) {
  events::PolicyKeyDefined def;
  def.key = key;
  def.value_type = codec::parse_value_type(row[0].as<std::string>()).value_or(events::ValueType::kInt);
  def.default_value =
      codec::decode_value(nlohmann::json::parse(row[1].as<std::string>())).value_or(events::PolicyValue{});
  if (!row[2].is_null()) def.min = row[2].as<std::int64_t>();
  if (!row[3].is_null()) def.max = row[3].as<std::int64_t>();
  for (const auto& a : nlohmann::json::parse(row[4].as<std::string>())) def.allowed.push_back(a.get<std::string>());
  def.description = row[5].as<std::string>();
  return def;
}

std::string policy_values_sql(const std::string& schema, const std::string& user, const std::string& project,
                              const std::string& org, const std::string& plan) {
  return with_schema(
      "SELECT scope_level, scope_id, value::text, (extract(epoch from effective_at) * 1000000)::bigint, "
      "position, tenant FROM __SCHEMA__.policy_values WHERE key = $1 AND position <= $2 AND ("
      "((scope_level = 'user' AND scope_id = " +
          user + ") OR (scope_level = 'project' AND scope_id = " + project +
          ")) "
          // domain::applies_to: with no organization, the platform's values only.
          "AND (tenant IS NULL OR tenant IN (" +
          org +
          ", 'platform')) OR "
          "(scope_level = 'organization' AND scope_id = " +
          org + ") OR (scope_level = 'plan' AND scope_id = " + plan +
          ") OR "
          "scope_level = 'global')",
      schema);
}

domain::ValueCandidate value_candidate_of(const pqxx::row& row) {
  domain::ValueCandidate cand;
  cand.scope.level = codec::parse_scope_level(row[0].as<std::string>()).value_or(events::ScopeLevel::kGlobal);
  cand.scope.id = row[1].as<std::string>();
  cand.value = codec::decode_value(nlohmann::json::parse(row[2].as<std::string>())).value_or(events::PolicyValue{});
  cand.effective_at = events::Instant{row[3].as<std::int64_t>()};
  cand.position = row[4].as<std::int64_t>();
  if (!row[5].is_null()) cand.tenant = row[5].as<std::string>();
  return cand;
}

}  // namespace internal

namespace {

// policy_snapshot's statements, prepared once per pooled connection.
constexpr const char* kPolicyCheckpoint = "policy_checkpoint";
constexpr const char* kPolicyKey = "policy_key";
constexpr const char* kPolicyValues = "policy_values";

std::vector<internal::Statement> policy_statements(const std::string& schema) {
  return {
      {kPolicyCheckpoint, with_schema("SELECT position FROM __SCHEMA__.checkpoints WHERE projection = $1", schema)},
      {kPolicyKey, internal::policy_key_sql(schema)},
      {kPolicyValues, internal::policy_values_sql(schema, "$3", "$4", "$5", "$6")},
  };
}

}  // namespace

struct PgPolicyQueries::Impl {
  Impl(const std::string& url, std::string schema_name, std::size_t pool_size)
      : schema(std::move(schema_name)), pool(url, pool_size, policy_statements(schema)) {}
  std::string schema;
  SessionPool pool;

  template <typename T>
  domain::Result<T> run(const std::function<T(pqxx::connection&)>& body) {
    return pool.run<T>(body);
  }
};

PgPolicyQueries::PgPolicyQueries(const std::string& url, std::string schema, std::size_t pool_size) {
  with_schema("", schema);  // validates the name early
  impl_ = std::make_unique<Impl>(url, std::move(schema), pool_size);
}
PgPolicyQueries::~PgPolicyQueries() = default;

bool PgPolicyQueries::ping() {
  return impl_
      ->run<bool>([](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        tx.exec("SELECT 1");
        return true;
      })
      .value_or(false);
}

domain::Result<events::GlobalPosition> PgPolicyQueries::checkpoint(std::string_view projection) {
  return impl_->run<events::GlobalPosition>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto r =
        tx.exec_params(with_schema("SELECT position FROM __SCHEMA__.checkpoints WHERE projection = $1", impl_->schema),
                       std::string(projection));
    return events::GlobalPosition{r.empty() ? std::int64_t{0} : r[0][0].as<std::int64_t>()};
  });
}

domain::Result<events::GlobalPosition> PgPolicyQueries::checkpoint() { return checkpoint("policy_values"); }

domain::Result<std::vector<std::string>> PgPolicyQueries::key_names(
    const std::string& prefix, std::optional<events::GlobalPosition> max_position) {
  return impl_->run<std::vector<std::string>>([&](pqxx::connection& c) {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    auto cp = tx.exec_prepared(kPolicyCheckpoint, std::string("policy_values"));
    const std::int64_t checkpoint = cp.empty() ? 0 : cp[0][0].as<std::int64_t>();
    const std::int64_t upto = max_position ? std::min(max_position->value, checkpoint) : checkpoint;
    // starts_with, not LIKE: a key may contain '_' (a LIKE wildcard).
    auto rows = tx.exec_params(
        with_schema("SELECT key FROM __SCHEMA__.policy_keys WHERE starts_with(key, $1) AND position <= $2 ORDER BY key",
                    impl_->schema),
        prefix, upto);
    std::vector<std::string> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(r[0].as<std::string>());
    return out;
  });
}

domain::Result<PolicySnapshot> PgPolicyQueries::policy_snapshot(const std::string& key, const domain::ScopeChain& chain,
                                                                std::optional<events::GlobalPosition> max_position) {
  return impl_->run<PolicySnapshot>([&](pqxx::connection& c) {
    // One snapshot for the checkpoint and the rows, so snapshot_version is
    // exactly what the answer was computed from.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    PolicySnapshot snap;
    auto cp = tx.exec_prepared(kPolicyCheckpoint, std::string("policy_values"));
    snap.snapshot_version = cp.empty() ? 0 : cp[0][0].as<std::int64_t>();
    const std::int64_t limit = max_position ? max_position->value : snap.snapshot_version;
    auto k = tx.exec_prepared(kPolicyKey, key, limit);
    if (k.empty()) return snap;
    snap.key = internal::policy_key_of(key, k[0]);
    auto rows = tx.exec_prepared(kPolicyValues, key, limit, chain.user_id, chain.project_id, chain.org_id, chain.plan);
    for (const auto& row : rows) snap.candidates.push_back(internal::value_candidate_of(row));
    return snap;
  });
}

// ---------------------------------------------------------------- audit

namespace {

constexpr const char* kAuditColumns =
    "position, event_id::text, tenant, stream_id, stream_version, event_type, schema_version, subject_kind, "
    "subject_key, scope_level, scope_id, before::text, before_source, after::text, reason, actor_type, actor_id, "
    "actor_roles::text, (extract(epoch from occurred_at) * 1000000)::bigint, "
    "(extract(epoch from recorded_at) * 1000000)::bigint, (extract(epoch from effective_at) * 1000000)::bigint, "
    "correlation_id, causation_id, command_id";

// The mutation evidence of a row (seed 001, rule 5): the position the
// writer decided the row's command against. The single writer decides each
// command against its model at its head and appends the command's events
// next, contiguously, in one stream (ARCHITECTURE.md, invariant 3), so it
// is the last position before the command's first event: the nearest
// earlier row that is not of the same append (same stream, command id,
// actor and commit time, with positions and stream versions advancing
// together). A pure function of the log, like the rows; one backward probe
// of the primary key per row. The writer records the same number in the
// command's outcome (commands/ports.h CommandOutcome::decided_at_position).
std::string audit_columns(const std::string& audit_log) {
  return std::string(kAuditColumns) + ", coalesce((SELECT p.position FROM " + audit_log +
         " p WHERE p.position < a.position AND NOT (p.stream_id = a.stream_id AND p.command_id = a.command_id"
         " AND p.recorded_at = a.recorded_at AND p.actor_type = a.actor_type AND p.actor_id = a.actor_id"
         " AND a.position - p.position = a.stream_version - p.stream_version)"
         " ORDER BY p.position DESC LIMIT 1), 0)";
}

std::optional<std::string> opt_text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

AuditRow audit_row(const pqxx::row& r) {
  AuditRow a;
  a.position = r[0].as<std::int64_t>();
  a.event_id = r[1].as<std::string>();
  a.tenant = r[2].as<std::string>();
  a.stream_id = r[3].as<std::string>();
  a.stream_version = r[4].as<std::int64_t>();
  a.event_type = r[5].as<std::string>();
  a.schema_version = r[6].as<int>();
  a.subject_kind = r[7].as<std::string>();
  a.subject_key = r[8].as<std::string>();
  a.scope_level = opt_text(r[9]);
  a.scope_id = opt_text(r[10]);
  a.before_json = opt_text(r[11]);
  a.before_source = opt_text(r[12]);
  a.after_json = r[13].as<std::string>();
  a.reason = opt_text(r[14]);
  a.actor.type = r[15].as<std::string>();
  a.actor.id = r[16].as<std::string>();
  for (const auto& role : nlohmann::json::parse(r[17].as<std::string>())) {
    if (role.is_string()) a.actor.roles.push_back(role.get<std::string>());
  }
  a.occurred_at = events::Instant{r[18].as<std::int64_t>()};
  a.recorded_at = events::Instant{r[19].as<std::int64_t>()};
  if (!r[20].is_null()) a.effective_at = events::Instant{r[20].as<std::int64_t>()};
  a.correlation_id = r[21].as<std::string>();
  a.causation_id = r[22].as<std::string>();
  a.command_id = r[23].as<std::string>();
  a.decided_at_position = r[24].as<std::int64_t>();
  return a;
}

// The WHERE clause of a filter (without cursor and position bounds) and its
// parameters, numbered from $1.
struct Where {
  std::string sql = "TRUE";
  std::vector<std::optional<std::string>> params;

  std::string param(std::string v) {
    params.emplace_back(std::move(v));
    std::string placeholder = "$";  // appended, not "$" + ...: GCC 12 warns on that (-Wrestrict)
    placeholder += std::to_string(params.size());
    return placeholder;
  }
  void equal(const char* column, const std::optional<std::string>& v) {
    if (v) sql += std::string(" AND ") + column + " = " + param(*v);
  }
};

Where audit_where(const AuditFilter& f) {
  Where w;
  w.equal("tenant", f.tenant);
  if (f.in_subtree()) {
    // The scope condition is the subtree's (audit_rows_query).
  } else if (f.include_descendants && f.scope_level == "organization" && f.scope_id) {
    const std::string id = w.param(*f.scope_id);
    w.sql += " AND ((scope_level = 'organization' AND scope_id = " + id + ") OR tenant = " + id + ")";
  } else {
    w.equal("scope_level", f.scope_level);
    w.equal("scope_id", f.scope_id);
  }
  w.equal("subject_kind", f.subject_kind);
  w.equal("subject_key", f.subject_key);
  w.equal("actor_id", f.actor_id);
  w.equal("actor_type", f.actor_type);
  w.equal("event_type", f.event_type);
  w.equal("correlation_id", f.correlation_id);
  w.equal("command_id", f.command_id);
  if (f.recorded_from) {
    w.sql += " AND recorded_at >= " + w.param(codec::format_instant(*f.recorded_from)) + "::timestamptz";
  }
  if (f.recorded_to) {
    w.sql += " AND recorded_at < " + w.param(codec::format_instant(*f.recorded_to)) + "::timestamptz";
  }
  return w;
}

// The rows matching `f` with position in (after, upto], ascending (or
// descending) by position, at most `limit`: a whole query with its
// parameters.
//
// A subtree filter (AuditFilter::in_subtree) first computes the membership
// intervals of the subtree from the link history: the asked node belongs
// over [0, infinity); a node linked below a member at position l, until its
// next link n (or forever), belongs over [max(l, parent's from),
// min(n, parent's to)). The hierarchy is acyclic at every position, so
// every path is finite (UNION also stops on a corrupted cycle), and a node
// is reached through at most one path at any position. A principal's
// interval also covers the policy level "user" with its id. Then each
// member's rows inside its interval are read from audit_log_scope, at most
// `limit` per member. The reservations a member owns (rm.reservations,
// reservations_owner; the owner never changes) count over the same
// interval: every row of such a reservation (subject "reservation" with its
// id and the row's tenant its organization — ids are unique per
// organization only; the later ones are filed at the
// organization, the draft at the owner, which the member's probe reads too)
// is read from audit_log_reservation, at most `limit` per reservation. Both
// are merged (DISTINCT ON drops the draft read twice): the cost grows with
// the subtree's size (nodes and their reservations) and the page, not with
// the log's.
Where audit_rows_query(const AuditFilter& f, const std::string& schema, std::int64_t after, std::int64_t upto,
                       bool descending, std::size_t limit) {
  Where w = audit_where(f);
  const std::string order = descending ? " DESC" : "";
  const std::string lim = " LIMIT " + std::to_string(limit);
  if (!f.in_subtree() || !f.scope_level || !f.scope_id) {  // in_subtree() implies both
    const std::string bounds = " AND position <= " + w.param(std::to_string(upto)) + "::bigint AND position > " +
                               w.param(std::to_string(after)) + "::bigint";
    const std::string audit_log = with_schema("__SCHEMA__.audit_log", schema);
    w.sql = "SELECT " + audit_columns(audit_log) + " FROM " + audit_log + " a WHERE " + w.sql + bounds +
            " ORDER BY position" + order + lim;
    return w;
  }
  const std::string level = w.param(*f.scope_level == "user" ? "principal" : *f.scope_level);
  const std::string id = w.param(*f.scope_id);
  const std::string last = w.param(std::to_string(upto));
  const std::string first = w.param(std::to_string(after));
  const std::string links = with_schema("__SCHEMA__.scope_links", schema);
  const std::string audit_log = with_schema("__SCHEMA__.audit_log", schema);
  w.sql =
      "WITH RECURSIVE audit_subtree(m_level, m_id, m_from, m_to) AS ("
      " SELECT " +
      level + "::text, " + id +
      "::text, 0::bigint, NULL::bigint"
      " UNION"
      " SELECT l.level, l.node_id, greatest(l.position, s.m_from), least(nx.position, s.m_to)"
      " FROM audit_subtree s JOIN " +
      links +
      " l ON l.parent_level = s.m_level AND l.parent_id = s.m_id"
      " LEFT JOIN LATERAL (SELECT n.position FROM " +
      links +
      " n WHERE n.level = l.level"
      " AND n.node_id = l.node_id AND n.position > l.position ORDER BY n.position LIMIT 1) nx ON TRUE"
      " WHERE l.position <= " +
      last +
      "::bigint"
      " AND greatest(l.position, s.m_from) < coalesce(least(nx.position, s.m_to), 9223372036854775807)),"
      " audit_members(m_level, m_id, m_from, m_to) AS ("
      " SELECT m_level, m_id, m_from, m_to FROM audit_subtree"
      " UNION ALL SELECT 'user', m_id, m_from, m_to FROM audit_subtree WHERE m_level = 'principal'),"
      // Reservations owned by a member, over the member's interval (all
      // of a reservation's rows come at or after its draft).
      " audit_reservations(r_id, r_org, m_from, m_to) AS ("
      " SELECT r.reservation_id, r.organization_id, s.m_from, s.m_to FROM audit_subtree s"
      " JOIN " +
      with_schema("__SCHEMA__.reservations", schema) +
      " r"
      " ON r.owner_level = s.m_level AND r.owner_id = s.m_id"
      " WHERE r.position <= " +
      last +
      "::bigint"
      " AND r.position < coalesce(s.m_to, 9223372036854775807))"
      " SELECT " +
      audit_columns(audit_log) +
      " FROM (SELECT DISTINCT ON (x.position) x.* FROM ("
      " SELECT y.* FROM audit_members m"
      " CROSS JOIN LATERAL (SELECT * FROM " +
      audit_log +
      " WHERE scope_level = m.m_level AND scope_id = m.m_id"
      " AND position > greatest(m.m_from - 1, " +
      first +
      "::bigint)"
      " AND position < least(m.m_to, " +
      last + "::bigint + 1) AND " + w.sql + " ORDER BY position" + order + lim +
      ") y"
      " UNION ALL"
      " SELECT y.* FROM audit_reservations r"
      " CROSS JOIN LATERAL (SELECT * FROM " +
      audit_log +
      " WHERE subject_kind = 'reservation' AND subject_key = r.r_id AND tenant = r.r_org"
      " AND position > greatest(r.m_from - 1, " +
      first +
      "::bigint)"
      " AND position < least(r.m_to, " +
      last + "::bigint + 1) AND " + w.sql + " ORDER BY position" + order + lim +
      ") y"
      ") x ORDER BY x.position" +
      order + lim +
      ") a"
      " ORDER BY position" +
      order;
  return w;
}

}  // namespace

struct PgAuditQueries::Impl {
  Impl(const std::string& url, std::string schema_name, std::size_t pool_size)
      : schema(std::move(schema_name)), pool(url, pool_size) {}
  std::string schema;
  SessionPool pool;
};

PgAuditQueries::PgAuditQueries(const std::string& url, std::string schema, std::size_t pool_size) {
  with_schema("", schema);  // validates the name early
  impl_ = std::make_unique<Impl>(url, std::move(schema), pool_size);
}
PgAuditQueries::~PgAuditQueries() = default;

domain::Result<events::GlobalPosition> PgAuditQueries::checkpoint(std::string_view projection) {
  return impl_->pool.run<events::GlobalPosition>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return events::GlobalPosition{checkpoint_in(tx, impl_->schema, projection)};
  });
}

domain::Result<events::GlobalPosition> PgAuditQueries::page_position(const AuditFilter& filter) {
  return impl_->pool.run<events::GlobalPosition>([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    const std::int64_t audit = checkpoint_in(tx, impl_->schema, "audit");
    // Membership in a subtree at a row's position needs the links up to it.
    return events::GlobalPosition{filter.in_subtree() ? std::min(audit, checkpoint_in(tx, impl_->schema, "admission"))
                                                      : audit};
  });
}

domain::Result<events::GlobalPosition> PgAuditQueries::head_position() {
  return impl_->pool.run<events::GlobalPosition>([](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return events::GlobalPosition{
        tx.exec1("SELECT coalesce(max(global_position), 0) FROM ledger.events")[0].as<std::int64_t>()};
  });
}

domain::Result<AuditPage> PgAuditQueries::audit_page(const AuditFilter& filter) {
  const std::string& schema = impl_->schema;
  return impl_->pool.run<AuditPage>([&](pqxx::connection& c) {
    // One snapshot for the checkpoint and the rows, so snapshot_version is
    // exactly what the page was read from.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    AuditPage page;
    page.snapshot_version = checkpoint_in(tx, schema, "audit");
    if (filter.in_subtree()) {
      // Membership at a row's position needs the links up to it.
      page.snapshot_version = std::min(page.snapshot_version, checkpoint_in(tx, schema, "admission"));
    }
    const std::int64_t upto =
        filter.max_position ? std::min(filter.max_position->value, page.snapshot_version) : page.snapshot_version;

    const Where rows_query = audit_rows_query(filter, schema, filter.after_position, upto, false, filter.limit + 1);
    auto rows = tx.exec_params(rows_query.sql, pqxx::prepare::make_dynamic_params(rows_query.params));
    for (const auto& r : rows) {
      if (page.rows.size() == filter.limit) {
        page.has_more = true;
        break;
      }
      page.rows.push_back(audit_row(r));
    }
    if (filter.with_latest) {
      const Where latest_query = audit_rows_query(filter, schema, 0, upto, true, 1);
      auto latest = tx.exec_params(latest_query.sql, pqxx::prepare::make_dynamic_params(latest_query.params));
      if (!latest.empty()) page.latest = audit_row(latest[0]);
    }
    return page;
  });
}

}  // namespace ledger::adapters::postgres

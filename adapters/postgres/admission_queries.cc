#include "adapters/postgres/admission_queries.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "adapters/postgres/pg_internal.h"
#include "events/codec/rfc3339.h"

namespace ledger::adapters::postgres {

using events::QuotaLevel;
using events::QuotaScope;
using internal::SessionPool;
using internal::with_schema;
using projections::CeilingSnapshot;
using projections::DecisionPolicyValue;
using projections::DecisionRead;
using projections::NodeFilter;
using projections::NodeLookup;
using projections::NodePage;
using projections::RegistryListing;
using projections::ReservationFilter;
using projections::ReservationLookup;
using projections::ReservationPage;
using projections::ReservationRecord;
using projections::ScopeNodeView;

namespace {

using Params = std::vector<std::optional<std::string>>;
using ReadTx = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

// Statements prepared once per pooled connection (statements() below).
constexpr const char* kCheckpointStmt = "adm_checkpoint";
constexpr const char* kDecisionCheckpointStmt = "adm_decision_checkpoint";
constexpr const char* kOwnerChainsStmt = "adm_owner_chains";
constexpr const char* kDecisionChainsStmt = "adm_decision_chains";
constexpr const char* kDecisionRulesStmt = "adm_decision_rules";
constexpr const char* kDecisionDelegationsStmt = "adm_decision_delegations";
constexpr const char* kDecisionReservationsStmt = "adm_decision_reservations";
constexpr const char* kDecisionRegistryStmt = "adm_decision_registry";
constexpr const char* kPolicyKeyStmt = "adm_policy_key";
constexpr const char* kPolicyValuesStmt = "adm_policy_values";

// A statement under construction with its positional parameters.
struct Sql {
  std::string text;
  Params params;

  std::string param(std::string v) {
    params.emplace_back(std::move(v));
    return "$" + std::to_string(params.size());
  }
  std::string param(std::int64_t v) { return param(std::to_string(v)) + "::bigint"; }
};

pqxx::result run(pqxx::transaction_base& tx, const std::string& schema, const Sql& q) {
  return tx.exec_params(with_schema(q.text, schema), pqxx::prepare::make_dynamic_params(q.params));
}

// A PostgreSQL text[] literal: every element double-quoted and escaped.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// The latest link of a node at or below a position, as a LATERAL subquery
// (one backward probe of scope_links' primary key).
std::string latest_link(const std::string& level, const std::string& node_id, const std::string& position) {
  return "(SELECT x.level, x.node_id, x.version, x.parent_level, x.parent_id FROM __SCHEMA__.scope_links x "
         "WHERE x.level = " +
         level + " AND x.node_id = " + node_id + " AND x.position <= " + position +
         " ORDER BY x.position DESC LIMIT 1)";
}

constexpr const char* kEpochMicros = "(extract(epoch from %) * 1000000)::bigint";

std::string micros_of(const std::string& column) {
  std::string s = kEpochMicros;
  return s.replace(s.find('%'), 1, column);
}

QuotaLevel level_of(const pqxx::field& f) {
  return events::parse_quota_level(f.as<std::string>()).value_or(QuotaLevel::kGlobal);
}

// A ceiling rule from (scope_level, scope_id, rule_id, rule_version,
// dimension, window, region, sku_or_model, quantity, unit).
domain::CeilingRule rule_of(const pqxx::row& r) {
  domain::CeilingRule rule;
  rule.scope = {level_of(r[0]), r[1].as<std::string>()};
  rule.rule_id = r[2].as<std::string>();
  rule.rule_version = r[3].as<std::int64_t>();
  rule.target = {r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>(), r[7].as<std::string>()};
  rule.quantity = r[8].as<std::int64_t>();
  rule.unit = r[9].as<std::string>();
  return rule;
}

// A delegation from (scope_level, scope_id, dimension, delegation_id,
// max_quantity, version).
domain::Delegation delegation_of(const pqxx::row& r) {
  domain::Delegation d;
  d.scope = {level_of(r[0]), r[1].as<std::string>()};
  d.dimension = r[2].as<std::string>();
  d.delegation_id = r[3].as<std::string>();
  if (!r[4].is_null()) d.max_quantity = r[4].as<std::int64_t>();
  d.version = r[5].as<std::int64_t>();
  return d;
}

std::map<std::string, std::string> attributes_of(const pqxx::field& f) {
  std::map<std::string, std::string> out;
  const auto parsed = nlohmann::json::parse(f.as<std::string>());
  for (const auto& [k, v] : parsed.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::int64_t checkpoint_in(pqxx::transaction_base& tx) {
  auto r = tx.exec_prepared(kCheckpointStmt);
  return r.empty() ? std::int64_t{0} : r[0][0].as<std::int64_t>();
}

// The snapshot version of a call: the checkpoint, or max_position when lower.
std::int64_t snapshot_bound(pqxx::transaction_base& tx, std::optional<events::GlobalPosition> max_position) {
  const std::int64_t cp = checkpoint_in(tx);
  return max_position ? std::min(max_position->value, cp) : cp;
}

QuotaScope global_scope() { return {QuotaLevel::kGlobal, ""}; }

// A chain from rows [from, to) of a chain query, in depth order: (level,
// node_id, version, parent_level, parent_id) from column `c` on. Empty when
// the links do not reach an organization.
std::vector<domain::ChainNode> chain_from(const pqxx::result& rows, std::size_t from, std::size_t to, int c = 0) {
  std::vector<domain::ChainNode> out;
  for (std::size_t i = from; i < to; ++i) {
    const auto r = rows[static_cast<pqxx::result::size_type>(i)];
    out.push_back(domain::ChainNode{{level_of(r[c]), r[c + 1].as<std::string>()}, r[c + 2].as<std::int64_t>()});
  }
  if (out.empty() || out.back().scope.level != QuotaLevel::kOrganization) return {};
  const auto org = rows[static_cast<pqxx::result::size_type>(to - 1)];
  out.push_back(domain::ChainNode{{level_of(org[c + 3]), org[c + 4].as<std::string>()}, 0});  // plan:<plan_id>
  out.push_back(domain::ChainNode{global_scope(), 0});
  return out;
}

// The chain of `start` (.. organization, plan, global) at `upto`. With
// `principal_id`, the chain starts at that principal instead when it hangs
// directly under `start` (a project). Empty when `start` is unknown or its
// links do not reach an organization.
std::vector<domain::ChainNode> chain_of(pqxx::transaction_base& tx, const std::string& schema, const QuotaScope& start,
                                        std::int64_t upto, const std::string* principal_id = nullptr) {
  if (start.level == QuotaLevel::kGlobal) return {domain::ChainNode{global_scope(), 0}};
  if (start.level == QuotaLevel::kPlan) return {domain::ChainNode{start, 0}, domain::ChainNode{global_scope(), 0}};
  Sql q;
  const std::string pos = q.param(upto);
  const std::string level = q.param(events::quota_level_name(start.level));
  const std::string id = q.param(start.id);
  std::string first;
  if (principal_id) {
    const std::string principal = q.param(*principal_id);
    first =
        "SELECT s.level, s.node_id, s.version, s.parent_level, s.parent_id FROM ("
        "  (SELECT 0 AS pick, p.* FROM " +
        latest_link("'principal'", principal, pos) +
        " p)"
        "  UNION ALL"
        "  (SELECT 1 AS pick, n.* FROM " +
        latest_link(level, id, pos) +
        " n)"
        ") s WHERE s.pick = 1 OR (s.parent_level = " +
        level + " AND s.parent_id = " + id +
        ")"
        " ORDER BY s.pick LIMIT 1";
  } else {
    first =
        "SELECT n.level, n.node_id, n.version, n.parent_level, n.parent_id FROM " + latest_link(level, id, pos) + " n";
  }
  // Departments nest, so the depth is open; 64 bounds a (refused) cycle.
  q.text =
      "WITH RECURSIVE chain(depth, level, node_id, version, parent_level, parent_id) AS ("
      "  SELECT 0, f.* FROM (" +
      first +
      ") f"
      "  UNION ALL"
      "  SELECT c.depth + 1, l.level, l.node_id, l.version, l.parent_level, l.parent_id FROM chain c"
      "  CROSS JOIN LATERAL " +
      latest_link("c.parent_level", "c.parent_id", pos) +
      " l"
      "  WHERE c.level <> 'organization' AND c.depth < 64"
      ") SELECT level, node_id, version, parent_level, parent_id FROM chain ORDER BY depth";
  auto rows = run(tx, schema, q);
  return chain_from(rows, 0, rows.size());
}

// "(scope_level, scope_id) is one of the chain's scopes".
std::string on_chain(Sql& q, std::span<const domain::ChainNode> chain) {
  std::string cond;
  for (const auto& c : chain) {
    cond += (cond.empty() ? "" : " OR ") + std::string("(scope_level = ") +
            q.param(events::quota_level_name(c.scope.level)) + " AND scope_id = " + q.param(c.scope.id) + ")";
  }
  return "(" + (cond.empty() ? std::string("FALSE") : cond) + ")";
}

std::size_t chain_index(std::span<const domain::ChainNode> chain, const QuotaScope& s) {
  for (std::size_t i = 0; i < chain.size(); ++i) {
    if (chain[i].scope == s) return i;
  }
  return chain.size();
}

// Non-cleared ceiling rules on the chain (of one dimension when given), in
// chain order then rule id, as domain::AdmissionModel lists them.
std::vector<domain::CeilingRule> rules_on(pqxx::transaction_base& tx, const std::string& schema,
                                          std::span<const domain::ChainNode> chain, const std::string* dimension,
                                          std::int64_t upto) {
  if (chain.empty()) return {};
  Sql q;
  const std::string pos = q.param(upto);
  std::string where = "position <= " + pos + " AND " + on_chain(q, chain);
  if (dimension) where += " AND dimension = " + q.param(*dimension);
  q.text =
      "SELECT scope_level, scope_id, rule_id, rule_version, dimension, \"window\", region, sku_or_model, quantity, "
      "unit FROM (SELECT DISTINCT ON (scope_level, scope_id, rule_id) * FROM __SCHEMA__.ceiling_rules WHERE " +
      where + " ORDER BY scope_level, scope_id, rule_id, position DESC) r WHERE quantity IS NOT NULL";
  std::vector<domain::CeilingRule> out;
  for (const auto& r : run(tx, schema, q)) {
    out.push_back(rule_of(r));
  }
  std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    return std::tuple(chain_index(chain, a.scope), a.rule_id) < std::tuple(chain_index(chain, b.scope), b.rule_id);
  });
  return out;
}

// Active delegations on the chain. A delegation's version counts the
// delegation events of its (scope, dimension) so far, as the domain does.
std::vector<domain::Delegation> delegations_on(pqxx::transaction_base& tx, const std::string& schema,
                                               std::span<const domain::ChainNode> chain, const std::string* dimension,
                                               std::int64_t upto) {
  if (chain.empty()) return {};
  Sql q;
  const std::string pos = q.param(upto);
  std::string where = "position <= " + pos + " AND " + on_chain(q, chain);
  if (dimension) where += " AND dimension = " + q.param(*dimension);
  q.text =
      "SELECT scope_level, scope_id, dimension, delegation_id, max_quantity, version FROM ("
      "  SELECT DISTINCT ON (scope_level, scope_id, dimension) d.*,"
      "         count(*) OVER (PARTITION BY scope_level, scope_id, dimension) AS version"
      "  FROM __SCHEMA__.delegations d WHERE " +
      where + "  ORDER BY scope_level, scope_id, dimension, position DESC) x WHERE active";
  std::vector<domain::Delegation> out;
  for (const auto& r : run(tx, schema, q)) {
    out.push_back(delegation_of(r));
  }
  std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    return std::tuple(chain_index(chain, a.scope), a.dimension) < std::tuple(chain_index(chain, b.scope), b.dimension);
  });
  return out;
}

// Owner .. organization for every owner, at `upto`, in one recursive query.
// An owner whose links do not reach an organization gets an empty chain.
std::map<QuotaScope, std::vector<QuotaScope>> owner_chains(pqxx::transaction_base& tx,
                                                           const std::set<QuotaScope>& owners, std::int64_t upto) {
  std::map<QuotaScope, std::vector<QuotaScope>> out;
  if (owners.empty()) return out;
  std::vector<std::string> levels, ids;
  for (const auto& o : owners) {
    levels.emplace_back(events::quota_level_name(o.level));
    ids.push_back(o.id);
  }
  std::map<QuotaScope, QuotaScope> parent;
  for (const auto& r : tx.exec_prepared(kOwnerChainsStmt, upto, text_array(levels), text_array(ids))) {
    parent[{level_of(r[0]), r[1].as<std::string>()}] = {level_of(r[2]), r[3].as<std::string>()};
  }
  for (const auto& o : owners) {
    std::vector<QuotaScope> chain;
    QuotaScope at = o;
    for (int depth = 0; depth < 64; ++depth) {
      auto it = parent.find(at);
      if (it == parent.end()) break;
      chain.push_back(at);
      if (at.level == QuotaLevel::kOrganization) {
        out[o] = std::move(chain);
        break;
      }
      at = it->second;
    }
    out.try_emplace(o);  // did not reach an organization: empty
  }
  return out;
}

// The columns reservation_of reads, "FROM" `r` (reservations, from
// `reservations`: the table or a join that yields it as r) and `s` (the
// state at `pos`), ready for a WHERE over both.
std::string reservation_columns(const std::string& pos, const std::string& reservations = "__SCHEMA__.reservations r") {
  // The latest value of a state column at or below the snapshot; `state`
  // and `consumed` are NULL in rows of events that did not change them.
  auto latest = [&](const std::string& column, bool skip_nulls) {
    return "(SELECT t." + column +
           " FROM __SCHEMA__.reservation_states t WHERE t.organization_id = r.organization_id"
           " AND t.reservation_id = r.reservation_id AND t.position <= " +
           pos + (skip_nulls ? " AND t." + column + " IS NOT NULL" : std::string()) +
           " ORDER BY t.position DESC LIMIT 1)";
  };
  return "r.reservation_id, r.organization_id, r.owner_level, r.owner_id, r.kind, r.dimension, r.region, "
         "r.sku_or_model, r.quantity, r.unit, " +
         micros_of("r.window_start") + ", " + micros_of("r.window_end") +
         ", r.attributes::text, r.position, s.state, s.consumed, s.version "
         "FROM " +
         reservations + " CROSS JOIN LATERAL (SELECT " + latest("state", true) + " AS state, " +
         latest("consumed", true) + " AS consumed, " + latest("version", false) + " AS version) s";
}

// One reservation from reservation_columns(); the owner chain is left empty.
ReservationRecord reservation_of(const pqxx::row& row) {
  ReservationRecord rec;
  auto& v = rec.view;
  v.reservation_id = row[0].as<std::string>();
  rec.organization_id = row[1].as<std::string>();
  v.owner = {level_of(row[2]), row[3].as<std::string>()};
  rec.kind = row[4].as<std::string>();
  v.dimension = row[5].as<std::string>();
  v.region = row[6].as<std::string>();
  v.sku_or_model = row[7].as<std::string>();
  v.quantity = row[8].as<std::int64_t>();
  rec.unit = row[9].as<std::string>();
  v.window_start = events::Instant{row[10].as<std::int64_t>()};
  v.window_end = events::Instant{row[11].as<std::int64_t>()};
  rec.attributes = attributes_of(row[12]);
  rec.drafted_position = row[13].as<std::int64_t>();
  v.state = row[14].is_null() ? "draft" : row[14].as<std::string>();
  v.consumed = row[15].is_null() ? 0 : row[15].as<std::int64_t>();
  rec.version = row[16].is_null() ? 0 : row[16].as<std::int64_t>();
  return rec;
}

// Reservations matching `where` (over `r`, the definition, and `s`, the
// state at the snapshot), ordered by id, at most `limit` (+1 to see more).
std::vector<ReservationRecord> load_reservations(pqxx::transaction_base& tx, const std::string& schema, Sql q,
                                                 const std::string& where, const std::string& pos, std::int64_t upto,
                                                 std::optional<std::size_t> limit) {
  q.text = "SELECT " + reservation_columns(pos) + " WHERE r.position <= " + pos + " AND " + where +
           " ORDER BY r.reservation_id, r.organization_id" +
           (limit ? " LIMIT " + std::to_string(*limit + 1) : std::string());
  std::vector<ReservationRecord> out;
  std::set<QuotaScope> owners;
  for (const auto& row : run(tx, schema, q)) {
    out.push_back(reservation_of(row));
    owners.insert(out.back().view.owner);
  }
  auto chains = owner_chains(tx, owners, upto);
  for (auto& rec : out) rec.view.owner_chain = chains[rec.view.owner];
  return out;
}

// ------------------------------------------------------------- decisions
// A decision (or a batch) reads with a fixed set of prepared statements,
// each taking the batch's distinct requesters, (scope, dimension) pairs or
// organizations as arrays; $1 is always the snapshot position. Each answers
// exactly what the per-item statement it replaced did (see the comments).

// The decision transaction's first statement: the "admission" checkpoint
// (NULL when there is none), and SET LOCAL plan_cache_mode =
// force_generic_plan for the rest of the transaction. Without it PostgreSQL
// plans these statements afresh at every execution (custom plans, ~1.5 ms of
// planning per decision against ~0.5 ms of execution): a generic plan's
// estimate for unnest($n::text[]) (100 rows) always looks costlier than a
// custom plan that knows the arrays' sizes. Their generic plans are the
// same index probes (checked with EXPLAIN), built once per connection.
constexpr const char* kDecisionCheckpointSql =
    "SELECT (SELECT position FROM __SCHEMA__.checkpoints WHERE projection = 'admission'), "
    "set_config('plan_cache_mode', 'force_generic_plan', true)";

// The chain of every (project, principal) requester ($2 projects, $3
// principals), as chain_of with a principal: the principal when its latest
// link hangs directly under the project, else the project; then up through
// the latest links to the organization. Rows (k, level, node_id, version,
// parent_level, parent_id, expires_at) by k (1-based index into the
// arrays), depth; expires_at (epoch micros) only on a principal requester's
// own row (DecisionSnapshot::requester_expires_at).
std::string decision_chains_sql() {
  const std::string pos = "$1::bigint";
  return "WITH RECURSIVE req(k, project_id, principal_id) AS ("
         "  SELECT q.k, q.project_id, q.principal_id"
         "  FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS q(project_id, principal_id, k)"
         "), chain(k, depth, level, node_id, version, parent_level, parent_id) AS ("
         "  SELECT q.k, 0, f.level, f.node_id, f.version, f.parent_level, f.parent_id FROM req q CROSS JOIN LATERAL ("
         "    SELECT s.level, s.node_id, s.version, s.parent_level, s.parent_id FROM ("
         "      (SELECT 0 AS pick, p.* FROM " +
         latest_link("'principal'", "q.principal_id", pos) +
         " p)"
         "      UNION ALL"
         "      (SELECT 1 AS pick, n.* FROM " +
         latest_link("'project'", "q.project_id", pos) +
         " n)"
         "    ) s WHERE s.pick = 1 OR (s.parent_level = 'project' AND s.parent_id = q.project_id)"
         "    ORDER BY s.pick LIMIT 1) f"
         "  UNION ALL"
         "  SELECT c.k, c.depth + 1, l.level, l.node_id, l.version, l.parent_level, l.parent_id FROM chain c"
         "  CROSS JOIN LATERAL " +
         latest_link("c.parent_level", "c.parent_id", pos) +
         " l"
         "  WHERE c.level <> 'organization' AND c.depth < 64"
         ") SELECT c.k, c.level, c.node_id, c.version, c.parent_level, c.parent_id, " +
         micros_of("n.expires_at") +
         " FROM chain c LEFT JOIN __SCHEMA__.scope_nodes n ON c.depth = 0 AND c.level = 'principal' "
         "AND n.level = c.level AND n.node_id = c.node_id ORDER BY c.k, c.depth";
}

// Non-cleared rules at each (scope_level $2, scope_id $3, dimension $4):
// per (scope, dimension) what rules_on reads for that dimension (the
// latest row of each rule id among that dimension's rows).
constexpr const char* kDecisionRulesSql =
    "SELECT scope_level, scope_id, rule_id, rule_version, dimension, \"window\", region, sku_or_model, quantity, unit "
    "FROM (SELECT DISTINCT ON (c.scope_level, c.scope_id, c.dimension, c.rule_id) c.scope_level, c.scope_id, "
    "  c.rule_id, c.rule_version, c.dimension, c.\"window\", c.region, c.sku_or_model, c.quantity, c.unit "
    "  FROM unnest($2::text[], $3::text[], $4::text[]) AS q(scope_level, scope_id, dimension) "
    "  JOIN __SCHEMA__.ceiling_rules c "
    "    ON c.scope_level = q.scope_level AND c.scope_id = q.scope_id AND c.dimension = q.dimension "
    "  WHERE c.position <= $1::bigint "
    "  ORDER BY c.scope_level, c.scope_id, c.dimension, c.rule_id, c.position DESC) r "
    "WHERE quantity IS NOT NULL";

// Active delegations at each (scope_level, scope_id, dimension), as
// delegations_on: the latest row, its version the count of rows so far.
constexpr const char* kDecisionDelegationsSql =
    "SELECT scope_level, scope_id, dimension, delegation_id, max_quantity, version "
    "FROM (SELECT DISTINCT ON (d.scope_level, d.scope_id, d.dimension) d.scope_level, d.scope_id, d.dimension, "
    "  d.delegation_id, d.max_quantity, d.active, "
    "  count(*) OVER (PARTITION BY d.scope_level, d.scope_id, d.dimension) AS version "
    "  FROM unnest($2::text[], $3::text[], $4::text[]) AS q(scope_level, scope_id, dimension) "
    "  JOIN __SCHEMA__.delegations d "
    "    ON d.scope_level = q.scope_level AND d.scope_id = q.scope_id AND d.dimension = q.dimension "
    "  WHERE d.position <= $1::bigint "
    "  ORDER BY d.scope_level, d.scope_id, d.dimension, d.position DESC) x "
    "WHERE active";

// Every reservation of each (organization_id $2, dimension $3), any state,
// by id (as load_reservations for one organization and dimension).
std::string decision_reservations_sql() {
  const std::string pos = "$1::bigint";
  return "SELECT " +
         reservation_columns(pos,
                             "unnest($2::text[], $3::text[]) AS q(organization_id, dimension) "
                             "JOIN __SCHEMA__.reservations r "
                             "ON r.organization_id = q.organization_id AND r.dimension = q.dimension") +
         " WHERE r.position <= " + pos + " ORDER BY r.reservation_id";
}

// The latest registry entry of each (kind $2, entry_id $3), and the usage
// unit each dimension of $4 names (attributes->>'unit' of its latest entry).
constexpr const char* kDecisionRegistrySql =
    "SELECT DISTINCT ON (kind, entry_id) kind, entry_id, version, description, attributes::text "
    "FROM __SCHEMA__.registry_entries WHERE position <= $1::bigint AND ("
    "(kind, entry_id) IN (SELECT q.kind, q.entry_id FROM unnest($2::text[], $3::text[]) AS q(kind, entry_id)) OR "
    "(kind = 'usage_unit' AND entry_id IN (SELECT (SELECT d.attributes->>'unit' FROM __SCHEMA__.registry_entries d "
    "  WHERE d.kind = 'quota_dimension' AND d.entry_id = x.dimension AND d.position <= $1::bigint "
    "  ORDER BY d.position DESC LIMIT 1) FROM unnest($4::text[]) AS x(dimension)))"
    ") ORDER BY kind, entry_id, position DESC";

// The policy values ($1 key, $2 position) at each chain ($3 user, $4
// project, $5 organization, $6 plan): PgPolicyQueries' own statement per
// chain. Rows: value_candidate_of's columns, then k.
std::string decision_policy_values_sql(const std::string& schema) {
  return "SELECT v.*, q.k FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY "
         "AS q(user_id, project_id, org_id, plan, k) CROSS JOIN LATERAL (" +
         internal::policy_values_sql(schema, "q.user_id", "q.project_id", "q.org_id", "q.plan") + ") v";
}

std::vector<internal::Statement> statements(const std::string& schema) {
  const std::string owner_chains_sql =
      "WITH RECURSIVE up(level, node_id, version, parent_level, parent_id) AS ("
      "  SELECT l.* FROM unnest($2::text[], $3::text[]) AS o(level, node_id)"
      "  CROSS JOIN LATERAL " +
      latest_link("o.level", "o.node_id", "$1::bigint") +
      " l"
      "  UNION"
      "  SELECT l.* FROM up u CROSS JOIN LATERAL " +
      latest_link("u.parent_level", "u.parent_id", "$1::bigint") +
      " l"
      "  WHERE u.level <> 'organization'"
      ") SELECT level, node_id, parent_level, parent_id FROM up";
  return {
      {kCheckpointStmt,
       with_schema("SELECT position FROM __SCHEMA__.checkpoints WHERE projection = 'admission'", schema)},
      {kDecisionCheckpointStmt, with_schema(kDecisionCheckpointSql, schema)},
      {kOwnerChainsStmt, with_schema(owner_chains_sql, schema)},
      {kDecisionChainsStmt, with_schema(decision_chains_sql(), schema)},
      {kDecisionRulesStmt, with_schema(kDecisionRulesSql, schema)},
      {kDecisionDelegationsStmt, with_schema(kDecisionDelegationsSql, schema)},
      {kDecisionReservationsStmt, with_schema(decision_reservations_sql(), schema)},
      {kDecisionRegistryStmt, with_schema(kDecisionRegistrySql, schema)},
      {kPolicyKeyStmt, internal::policy_key_sql(schema)},
      {kPolicyValuesStmt, decision_policy_values_sql(schema)},
  };
}

using ScopeDimension = std::tuple<QuotaScope, std::string>;

// The distinct scopes of a chain, in chain order.
std::vector<QuotaScope> distinct_scopes(std::span<const domain::ChainNode> chain) {
  std::vector<QuotaScope> out;
  for (const auto& c : chain) {
    if (std::find(out.begin(), out.end(), c.scope) == out.end()) out.push_back(c.scope);
  }
  return out;
}

// Three text[] parameters from (scope, dimension) pairs.
std::tuple<std::string, std::string, std::string> scope_dimension_arrays(const std::set<ScopeDimension>& keys) {
  std::vector<std::string> levels, ids, dims;
  for (const auto& [scope, dim] : keys) {
    levels.emplace_back(events::quota_level_name(scope.level));
    ids.push_back(scope.id);
    dims.push_back(dim);
  }
  return {text_array(levels), text_array(ids), text_array(dims)};
}

constexpr const char* kNodeColumns =
    "n.level, n.node_id, n.organization_id, n.name, n.principal_type, %EXPIRES%, n.default_department_id, "
    "n.position, l.parent_level, l.parent_id, l.version";

std::string node_columns() {
  std::string s = kNodeColumns;
  return s.replace(s.find("%EXPIRES%"), 9, micros_of("n.expires_at"));
}

ScopeNodeView node_of(const pqxx::row& r) {
  ScopeNodeView n;
  n.scope = {level_of(r[0]), r[1].as<std::string>()};
  n.organization_id = r[2].as<std::string>();
  n.name = r[3].as<std::string>();
  n.principal_type = r[4].as<std::string>();
  if (!r[5].is_null()) n.expires_at = events::Instant{r[5].as<std::int64_t>()};
  n.default_department_id = r[6].as<std::string>();
  n.created_position = r[7].as<std::int64_t>();
  n.parent = {level_of(r[8]), r[9].as<std::string>()};
  n.version = r[10].as<std::int64_t>();
  if (n.scope.level == QuotaLevel::kOrganization) n.plan_id = n.parent.id;
  return n;
}

}  // namespace

struct PgAdmissionQueries::Impl {
  Impl(const std::string& url, std::string schema_name, std::size_t pool_size)
      : schema(std::move(schema_name)), pool(url, pool_size, statements(schema)) {}
  std::string schema;
  SessionPool pool;

  // One repeatable-read, read-only transaction per call.
  template <typename T>
  domain::Result<T> read(const std::function<T(pqxx::transaction_base&)>& body) {
    return pool.run<T>([&](pqxx::connection& c) {
      ReadTx tx(c);
      T out = body(tx);
      tx.commit();
      return out;
    });
  }
};

PgAdmissionQueries::PgAdmissionQueries(const std::string& url, std::string schema, std::size_t pool_size) {
  with_schema("", schema);  // validates the name early
  impl_ = std::make_unique<Impl>(url, std::move(schema), pool_size);
}
PgAdmissionQueries::~PgAdmissionQueries() = default;

domain::Result<events::GlobalPosition> PgAdmissionQueries::checkpoint() {
  return impl_->read<events::GlobalPosition>(
      [](pqxx::transaction_base& tx) { return events::GlobalPosition{checkpoint_in(tx)}; });
}

domain::Result<std::optional<std::string>> PgAdmissionQueries::revocation(const std::string& tenant,
                                                                          const std::string& principal_id,
                                                                          const std::optional<std::string>& token_id) {
  const std::string& schema = impl_->schema;
  return impl_->read<std::optional<std::string>>([&](pqxx::transaction_base& tx) -> std::optional<std::string> {
    Sql q;
    const std::string t = q.param(tenant);
    const std::string p = q.param(principal_id);
    const std::string j = q.param(token_id.value_or(""));
    q.text = "SELECT kind FROM __SCHEMA__.token_revocations WHERE tenant = " + t +
             " AND ((kind = 'principal' AND subject_id = " + p + ") OR (kind = 'token' AND subject_id = " + j +
             " AND " + j + " <> '')) ORDER BY kind LIMIT 1";
    auto rows = run(tx, schema, q);
    if (rows.empty()) return std::nullopt;
    return rows[0][0].as<std::string>() == "principal" ? "principal_revoked" : "token_revoked";
  });
}

domain::Result<events::GlobalPosition> PgAdmissionQueries::head_position() {
  return impl_->read<events::GlobalPosition>([](pqxx::transaction_base& tx) {
    return events::GlobalPosition{
        tx.exec1("SELECT coalesce(max(global_position), 0) FROM ledger.events")[0].as<std::int64_t>()};
  });
}

domain::Result<domain::DecisionSnapshot> PgAdmissionQueries::decision_snapshot(
    const domain::DecisionInput& in, std::optional<events::GlobalPosition> max_position) {
  auto all = decision_snapshots(std::span(&in, 1), max_position);
  if (!all) return std::unexpected(all.error());
  return std::move(all->front());
}

domain::Result<std::vector<domain::DecisionSnapshot>> PgAdmissionQueries::decision_snapshots(
    std::span<const domain::DecisionInput> inputs, std::optional<events::GlobalPosition> max_position) {
  auto reads = decision_reads(inputs, max_position, std::nullopt);
  if (!reads) return std::unexpected(reads.error());
  std::vector<domain::DecisionSnapshot> out;
  out.reserve(reads->size());
  for (auto& r : *reads) out.push_back(std::move(r.snapshot));
  return out;
}

domain::Result<std::vector<DecisionRead>> PgAdmissionQueries::decision_reads(
    std::span<const domain::DecisionInput> inputs, std::optional<events::GlobalPosition> max_position,
    const std::optional<std::string>& policy_key) {
  return impl_->read<std::vector<DecisionRead>>([&](pqxx::transaction_base& tx) {
    const auto cp = tx.exec_prepared1(kDecisionCheckpointStmt)[0];
    const std::int64_t checkpoint = cp.is_null() ? 0 : cp.as<std::int64_t>();
    const std::int64_t upto = max_position ? std::min(max_position->value, checkpoint) : checkpoint;
    std::vector<DecisionRead> out(inputs.size());
    for (auto& r : out) r.snapshot.snapshot_version = upto;
    if (inputs.empty()) return out;

    // Chains: one per distinct (project, principal).
    std::map<std::pair<std::string, std::string>, std::vector<domain::ChainNode>> chains;
    std::map<std::pair<std::string, std::string>, std::optional<events::Instant>> expiries;
    for (const auto& in : inputs) chains.try_emplace({in.hierarchy.project_id, in.actor.actor_id});
    {
      std::vector<std::string> projects, principals;
      std::vector<std::vector<domain::ChainNode>*> slots;
      std::vector<std::optional<events::Instant>*> expiry_slots;
      for (auto& [key, chain] : chains) {
        projects.push_back(key.first);
        principals.push_back(key.second);
        slots.push_back(&chain);
        expiry_slots.push_back(&expiries[key]);
      }
      const auto rows = tx.exec_prepared(kDecisionChainsStmt, upto, text_array(projects), text_array(principals));
      const std::size_t n = rows.size();
      for (std::size_t begin = 0, end = 0; begin < n; begin = end) {
        const auto k = rows[static_cast<pqxx::result::size_type>(begin)][0].as<std::size_t>();
        while (end < n && rows[static_cast<pqxx::result::size_type>(end)][0].as<std::size_t>() == k) ++end;
        *slots.at(k - 1) = chain_from(rows, begin, end, 1);
        const auto& first = rows[static_cast<pqxx::result::size_type>(begin)];
        if (!first[6].is_null()) *expiry_slots.at(k - 1) = events::Instant{first[6].as<std::int64_t>()};
      }
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::pair<std::string, std::string> key{inputs[i].hierarchy.project_id, inputs[i].actor.actor_id};
      out[i].snapshot.chain = chains.at(key);
      out[i].snapshot.requester_expires_at = expiries.at(key);
    }

    // Rules and delegations: every (scope on a known chain, dimension).
    std::set<ScopeDimension> on_chains;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      for (const auto& scope : distinct_scopes(out[i].snapshot.chain))
        on_chains.emplace(scope, inputs[i].request.dimension);
    }
    std::map<ScopeDimension, std::vector<domain::CeilingRule>> rules;
    std::map<ScopeDimension, std::vector<domain::Delegation>> delegations;
    if (!on_chains.empty()) {
      const auto [levels, ids, dims] = scope_dimension_arrays(on_chains);
      for (const auto& r : tx.exec_prepared(kDecisionRulesStmt, upto, levels, ids, dims)) {
        auto rule = rule_of(r);
        rules[{rule.scope, rule.target.dimension}].push_back(std::move(rule));
      }
      for (const auto& r : tx.exec_prepared(kDecisionDelegationsStmt, upto, levels, ids, dims)) {
        auto d = delegation_of(r);
        delegations[{d.scope, d.dimension}].push_back(std::move(d));
      }
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      auto& s = out[i].snapshot;
      const std::string& dim = inputs[i].request.dimension;
      for (const auto& scope : distinct_scopes(s.chain)) {
        if (auto it = rules.find({scope, dim}); it != rules.end()) {
          s.rules.insert(s.rules.end(), it->second.begin(), it->second.end());
        }
        if (auto it = delegations.find({scope, dim}); it != delegations.end()) {
          s.delegations.insert(s.delegations.end(), it->second.begin(), it->second.end());
        }
      }
      // The order rules_on and delegations_on give.
      std::stable_sort(s.rules.begin(), s.rules.end(), [&](const auto& a, const auto& b) {
        return std::tuple(chain_index(s.chain, a.scope), a.rule_id) <
               std::tuple(chain_index(s.chain, b.scope), b.rule_id);
      });
      std::stable_sort(s.delegations.begin(), s.delegations.end(), [&](const auto& a, const auto& b) {
        return std::tuple(chain_index(s.chain, a.scope), a.dimension) <
               std::tuple(chain_index(s.chain, b.scope), b.dimension);
      });
    }

    // Reservations: every one of each (organization, dimension), with the
    // chains of all their owners in one more statement.
    std::map<std::pair<std::string, std::string>, std::vector<domain::ReservationView>> reservations;
    for (const auto& in : inputs) reservations.try_emplace({in.hierarchy.organization_id, in.request.dimension});
    // Inputs of one organization and dimension share their views (every
    // key of `reservations`, empty ones too, gets an entry below).
    std::map<std::pair<std::string, std::string>, domain::ReservationList> shared_reservations;
    {
      std::vector<std::string> orgs, dims;
      for (const auto& [key, _] : reservations) {
        orgs.push_back(key.first);
        dims.push_back(key.second);
      }
      std::set<QuotaScope> owners;
      for (const auto& row : tx.exec_prepared(kDecisionReservationsStmt, upto, text_array(orgs), text_array(dims))) {
        auto rec = reservation_of(row);
        owners.insert(rec.view.owner);
        reservations.at({rec.organization_id, rec.view.dimension}).push_back(std::move(rec.view));
      }
      auto owner_chain = owner_chains(tx, owners, upto);
      for (auto& [key, views] : reservations) {
        domain::ReservationList::Views shared;
        shared.reserve(views.size());
        for (auto& v : views) {
          v.owner_chain = owner_chain[v.owner];
          shared.emplace_back(std::move(v));
        }
        shared_reservations[key] = domain::ReservationList(std::move(shared));
      }
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      out[i].snapshot.reservations =
          shared_reservations.at({inputs[i].hierarchy.organization_id, inputs[i].request.dimension});
    }

    // Registry entries: each dimension, product and resource type named, and
    // the usage unit each dimension names.
    {
      std::set<std::pair<std::string, std::string>> wanted;
      std::set<std::string> dimensions;
      for (const auto& in : inputs) {
        wanted.emplace("quota_dimension", in.request.dimension);
        if (!in.product.product_id.empty()) wanted.emplace("product", in.product.product_id);
        if (!in.product.resource_type.empty()) wanted.emplace("resource_type", in.product.resource_type);
        dimensions.insert(in.request.dimension);
      }
      std::vector<std::string> kinds, ids;
      for (const auto& [kind, id] : wanted) {
        kinds.push_back(kind);
        ids.push_back(id);
      }
      std::map<std::pair<std::string, std::string>, domain::Shared<domain::RegistryEntry>> entries;
      const std::vector<std::string> dims(dimensions.begin(), dimensions.end());
      for (const auto& r :
           tx.exec_prepared(kDecisionRegistryStmt, upto, text_array(kinds), text_array(ids), text_array(dims))) {
        domain::RegistryEntry e{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::int64_t>(),
                                r[3].as<std::string>(), attributes_of(r[4])};
        auto key = std::pair(e.kind, e.entry_id);
        entries.emplace(std::move(key), domain::Shared<domain::RegistryEntry>(std::move(e)));
      }
      auto entry = [&](const char* kind, const std::string& id) -> domain::Shared<domain::RegistryEntry> {
        auto it = entries.find({kind, id});
        return it == entries.end() ? domain::Shared<domain::RegistryEntry>() : it->second;
      };
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& in = inputs[i];
        auto& s = out[i].snapshot;
        s.dimension = entry("quota_dimension", in.request.dimension);
        if (!in.product.product_id.empty()) s.product = entry("product", in.product.product_id);
        if (!in.product.resource_type.empty()) s.resource_type = entry("resource_type", in.product.resource_type);
        // The usage unit only counts when the (current) dimension names it.
        if (s.dimension && s.dimension->attributes.contains("unit")) {
          s.usage_unit = entry("usage_unit", s.dimension->attributes.at("unit"));
        }
      }
    }

    // The policy value, for every requester whose chain is known: at its
    // project and the organization and plan on its chain.
    if (policy_key) {
      std::map<std::tuple<std::string, std::string, std::string>, std::vector<std::size_t>> by_chain;
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& chain = out[i].snapshot.chain;
        if (chain.empty()) continue;
        domain::ScopeChain sc;
        sc.project_id = inputs[i].hierarchy.project_id;
        for (const auto& c : chain) {
          if (c.scope.level == QuotaLevel::kOrganization && sc.org_id.empty()) sc.org_id = c.scope.id;
          if (c.scope.level == QuotaLevel::kPlan) sc.plan = c.scope.id;
        }
        out[i].policy = DecisionPolicyValue{sc, std::nullopt, {}};
        by_chain[{sc.project_id, sc.org_id, sc.plan}].push_back(i);
      }
      if (!by_chain.empty()) {
        const auto k = tx.exec_prepared(kPolicyKeyStmt, *policy_key, upto);
        if (!k.empty()) {
          const auto def = internal::policy_key_of(*policy_key, k[0]);
          std::vector<std::string> users, projects, orgs, plans;
          std::vector<const std::vector<std::size_t>*> members;
          for (const auto& [key, idx] : by_chain) {
            users.emplace_back();
            projects.push_back(std::get<0>(key));
            orgs.push_back(std::get<1>(key));
            plans.push_back(std::get<2>(key));
            members.push_back(&idx);
          }
          std::vector<std::vector<domain::ValueCandidate>> candidates(members.size());
          for (const auto& row : tx.exec_prepared(kPolicyValuesStmt, *policy_key, upto, text_array(users),
                                                  text_array(projects), text_array(orgs), text_array(plans))) {
            candidates.at(row[6].as<std::size_t>() - 1).push_back(internal::value_candidate_of(row));
          }
          for (std::size_t c = 0; c < members.size(); ++c) {
            for (std::size_t i : *members[c]) {
              out[i].policy->key = def;
              out[i].policy->candidates = candidates[c];
            }
          }
        }
      }
    }
    return out;
  });
}

domain::Result<CeilingSnapshot> PgAdmissionQueries::effective_ceilings(
    const QuotaScope& scope, const std::optional<std::string>& dimension,
    std::optional<events::GlobalPosition> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<CeilingSnapshot>([&](pqxx::transaction_base& tx) {
    CeilingSnapshot s;
    s.snapshot_version = snapshot_bound(tx, max_position);
    s.chain = chain_of(tx, schema, scope, s.snapshot_version);
    const std::string* dim = dimension ? &*dimension : nullptr;
    s.rules = rules_on(tx, schema, s.chain, dim, s.snapshot_version);
    s.delegations = delegations_on(tx, schema, s.chain, dim, s.snapshot_version);
    return s;
  });
}

domain::Result<ReservationLookup> PgAdmissionQueries::reservation(const std::string& organization_id,
                                                                  const std::string& reservation_id,
                                                                  std::optional<events::GlobalPosition> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<ReservationLookup>([&](pqxx::transaction_base& tx) {
    ReservationLookup out;
    out.snapshot_version = snapshot_bound(tx, max_position);
    Sql q;
    const std::string pos = q.param(out.snapshot_version);
    const std::string where =
        "r.organization_id = " + q.param(organization_id) + " AND r.reservation_id = " + q.param(reservation_id);
    auto found = load_reservations(tx, schema, std::move(q), where, pos, out.snapshot_version, 1);
    if (!found.empty()) out.reservation = std::move(found.front());
    return out;
  });
}

domain::Result<ReservationPage> PgAdmissionQueries::reservations(const ReservationFilter& f,
                                                                 std::optional<events::GlobalPosition> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<ReservationPage>([&](pqxx::transaction_base& tx) {
    ReservationPage page;
    page.snapshot_version = snapshot_bound(tx, max_position);
    Sql q;
    const std::string pos = q.param(page.snapshot_version);
    // Pages run in (reservation_id, organization_id) order: ids repeat
    // across organizations.
    std::string where = "(r.reservation_id, r.organization_id) > (" + q.param(f.after_id) + "::text, " +
                        q.param(f.after_organization_id) + "::text)";
    if (f.organization_id) where += " AND r.organization_id = " + q.param(*f.organization_id);
    if (f.owner) {
      where += " AND r.owner_level = " + q.param(events::quota_level_name(f.owner->level)) +
               " AND r.owner_id = " + q.param(f.owner->id);
    }
    if (f.state) {
      if (f.as_of) {
        // domain::reservation_state_at, in SQL, so pages stay exact.
        where += " AND (CASE WHEN s.state IN ('active', 'exhausted', 'suspended') AND " +
                 q.param(codec::format_instant(*f.as_of)) +
                 "::timestamptz >= r.window_end THEN 'expired' ELSE s.state END) = " + q.param(*f.state);
      } else {
        where += " AND s.state = " + q.param(*f.state);
      }
    }
    page.items = load_reservations(tx, schema, std::move(q), where, pos, page.snapshot_version, f.limit);
    if (page.items.size() > f.limit) {
      page.has_more = true;
      page.items.resize(f.limit);
    }
    return page;
  });
}

domain::Result<NodeLookup> PgAdmissionQueries::node(const QuotaScope& scope,
                                                    std::optional<events::GlobalPosition> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<NodeLookup>([&](pqxx::transaction_base& tx) {
    NodeLookup out;
    out.snapshot_version = snapshot_bound(tx, max_position);
    Sql q;
    const std::string pos = q.param(out.snapshot_version);
    const std::string level = q.param(events::quota_level_name(scope.level));
    const std::string id = q.param(scope.id);
    q.text = "SELECT " + node_columns() + " FROM __SCHEMA__.scope_nodes n CROSS JOIN LATERAL " +
             latest_link("n.level", "n.node_id", pos) + " l WHERE n.level = " + level + " AND n.node_id = " + id +
             " AND n.position <= " + pos;
    auto rows = run(tx, schema, q);
    if (!rows.empty()) {
      out.node = node_of(rows[0]);
      out.chain = chain_of(tx, schema, scope, out.snapshot_version);
    }
    return out;
  });
}

domain::Result<NodePage> PgAdmissionQueries::nodes(const NodeFilter& f,
                                                   std::optional<events::GlobalPosition> max_position) {
  if (!f.parent && !f.organization_id) {
    return domain::fail(domain::ErrorKind::kInvalidArgument, "invalid_node_filter",
                        "nodes are listed by parent or by organization");
  }
  const std::string& schema = impl_->schema;
  return impl_->read<NodePage>([&](pqxx::transaction_base& tx) {
    NodePage page;
    page.snapshot_version = snapshot_bound(tx, max_position);
    Sql q;
    const std::string pos = q.param(page.snapshot_version);
    std::string from, where = "n.position <= " + pos;
    if (f.parent) {
      const std::string pl = q.param(events::quota_level_name(f.parent->level));
      const std::string pid = q.param(f.parent->id);
      // Candidates: every node that ever hung under the parent (index), kept
      // when its latest link still does.
      from = "(SELECT DISTINCT level, node_id FROM __SCHEMA__.scope_links WHERE parent_level = " + pl +
             " AND parent_id = " + pid + " AND position <= " + pos +
             ") c JOIN __SCHEMA__.scope_nodes n ON "
             "n.level = c.level AND n.node_id = c.node_id";
      where += " AND l.parent_level = " + pl + " AND l.parent_id = " + pid;
    } else {
      from = "__SCHEMA__.scope_nodes n";
    }
    if (f.organization_id) where += " AND n.organization_id = " + q.param(*f.organization_id);
    if (f.level) where += " AND n.level = " + q.param(events::quota_level_name(*f.level));
    if (f.after_level) {
      where += " AND (n.level, n.node_id) > (" + q.param(events::quota_level_name(*f.after_level)) + ", " +
               q.param(f.after_id) + ")";
    }
    q.text = "SELECT " + node_columns() + " FROM " + from + " CROSS JOIN LATERAL " +
             latest_link("n.level", "n.node_id", pos) + " l WHERE " + where + " ORDER BY n.level, n.node_id LIMIT " +
             std::to_string(f.limit + 1);
    for (const auto& r : run(tx, schema, q)) {
      if (page.items.size() == f.limit) {
        page.has_more = true;
        break;
      }
      page.items.push_back(node_of(r));
    }
    return page;
  });
}

domain::Result<RegistryListing> PgAdmissionQueries::registry(const std::optional<std::string>& kind,
                                                             std::optional<events::GlobalPosition> max_position) {
  const std::string& schema = impl_->schema;
  return impl_->read<RegistryListing>([&](pqxx::transaction_base& tx) {
    RegistryListing out;
    out.snapshot_version = snapshot_bound(tx, max_position);
    Sql q;
    std::string where = "position <= " + q.param(out.snapshot_version);
    if (kind) where += " AND kind = " + q.param(*kind);
    q.text =
        "SELECT DISTINCT ON (kind, entry_id) kind, entry_id, version, description, attributes::text "
        "FROM __SCHEMA__.registry_entries WHERE " +
        where + " ORDER BY kind, entry_id, position DESC";
    for (const auto& r : run(tx, schema, q)) {
      out.entries.push_back(domain::RegistryEntry{r[0].as<std::string>(), r[1].as<std::string>(),
                                                  r[2].as<std::int64_t>(), r[3].as<std::string>(),
                                                  attributes_of(r[4])});
    }
    return out;
  });
}

}  // namespace ledger::adapters::postgres
